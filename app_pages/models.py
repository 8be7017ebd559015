"""Models: the registry as a table; choose the active model; download, delete, import zips."""

import streamlit as st

import app_ui
from vae_core import archive, registry, views

CONFIRM_DELETE = "_confirm_delete"  # session key: the model name awaiting a second click
FLASH = "_models_flash"  # session key: a success message to show after the rerun that follows an action


def flash_and_rerun(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


def manage(info) -> None:
    """Details, download and delete for the active model."""
    st.subheader(f"Active model: {info.name}")
    st.caption(f"Folder: {info.path}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Metrics**")
        st.json(info.metadata.get("metrics", {}), expanded=False)
    with right:
        st.markdown("**Architecture**")
        st.json(info.config.get("vae_config", {}), expanded=False)
    buttons = st.columns([1, 1, 3])
    buttons[0].download_button(
        "Download zip", data=lambda: archive.export_zip(info.name, app_ui.models_root()),
        file_name=f"{info.name}.zip", mime="application/zip", key="models_download",
        on_click="ignore", icon=":material/download:")
    if st.session_state.get(CONFIRM_DELETE) == info.name:
        st.warning(f"Delete **{info.name}** for good? Its folder is removed from {app_ui.models_root()}.")
        yes, no, _ = st.columns([1, 1, 3])
        if yes.button("Yes, delete", type="primary", key="models_delete_yes"):
            st.session_state.pop(CONFIRM_DELETE, None)
            with app_ui.guard("Delete failed"):
                registry.delete_model(info.name, app_ui.models_root())
                flash_and_rerun(f"Deleted **{info.name}**.")
        no.button("Keep it", key="models_delete_no", on_click=st.session_state.pop, args=(CONFIRM_DELETE, None))
    elif buttons[1].button("Delete…", key="models_delete", icon=":material/delete:"):
        st.session_state[CONFIRM_DELETE] = info.name
        st.rerun()


def broken_section(infos) -> None:
    """Folders that are not usable models, with the reason; deletable when their name is valid."""
    broken = [i for i in infos if not i.valid]
    if not broken:
        return
    st.subheader("Unreadable folders")
    for info in broken:
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(f"**{info.name}**: {info.error}")
        if not registry.NAME_PATTERN.fullmatch(info.name):  # not a name the registry writes: not ours to delete
            text.caption(f"Remove it by hand from {app_ui.models_root()}.")
        elif st.session_state.get(CONFIRM_DELETE) == info.name:
            if button.button("Really delete", type="primary", key=f"models_delete_broken_yes_{info.name}"):
                st.session_state.pop(CONFIRM_DELETE, None)
                with app_ui.guard("Delete failed"):
                    registry.delete_model(info.name, app_ui.models_root())
                    flash_and_rerun(f"Deleted the unreadable folder **{info.name}**.")
        elif button.button("Delete…", key=f"models_delete_broken_{info.name}", icon=":material/delete:"):
            st.session_state[CONFIRM_DELETE] = info.name
            st.rerun()


def import_section() -> None:
    st.subheader("Import a model zip")
    upload = st.file_uploader("Model zip (as downloaded above)", type=["zip"], key="models_upload",
                              max_upload_size=archive.MAX_ZIP_MB)
    name = st.text_input("Name for the imported model (optional)", key="models_import_name",
                         placeholder="default: the folder name inside the zip")
    if upload is not None and st.button("Import", key="models_import", icon=":material/upload:"):
        with app_ui.guard("Import failed"):
            info = archive.import_zip(upload.getvalue(), name or None, app_ui.models_root())
            st.session_state[app_ui.ACTIVE_MODEL] = info.name
            flash_and_rerun(f"Imported **{info.name}**; it is now the active model.")


def main() -> None:
    st.title("Models")
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")
    st.caption(f"Registry: {app_ui.models_root()} (set VAE_MODELS_DIR to use another folder)")
    infos = app_ui.model_infos()
    if infos:
        st.dataframe(views.model_table(infos), hide_index=True, key="models_table")
    info = app_ui.pick_model()
    if info is not None:
        manage(info)
    broken_section(infos)
    st.divider()
    import_section()


with app_ui.guard():
    main()
