"""Models: the registry as a readable table; make a model active (one per kind), inspect, download,
rename, delete, import zips."""

import streamlit as st

from dashboard import loaders, presentation, state, widgets
from vae_core import archive, registry, settings
from vae_core.tables.advice import advice

CONFIRM_DELETE = "_confirm_delete"  # session key: the model name awaiting a second click
FLASH = "_models_flash"  # session key: a success message to show after the rerun that follows an action
INSPECT = "models_inspect"  # session key (and the picker's key): the model shown in detail
_INSPECT_NEXT = "_models_inspect_next"  # set by an action: the model to show in detail on the next run
TABLE = "models_table"


def flash_and_rerun(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


def _table_selected(names: list[str]) -> None:
    rows = st.session_state[TABLE].selection.rows
    if rows:
        state.set_active(names[rows[0]])
        st.session_state[_INSPECT_NEXT] = names[rows[0]]


def table(infos) -> None:
    """Every valid model, one row each; selecting a row makes it its kind's active model."""
    active = {kind: state.active_model(kind) for kind in state.KINDS}
    rows = presentation.model_table(infos, active)
    if not rows:
        return
    names = [row["name"] for row in rows]
    st.dataframe(rows, hide_index=True, key=TABLE, on_select=lambda: _table_selected(names),
                 selection_mode="single-row", width="stretch")
    st.caption("Select a row to make that model active: the MNIST pages use the active MNIST model, the Fraud "
               "threshold page the active fraud model. ✓ marks this session's active models.")


def manage(info) -> None:
    """Details, make active, download and delete for one model."""
    active = state.active_model(info.kind) == info.name
    st.subheader(f"{info.name}" + (" · active" if active else ""))
    st.markdown(f"{presentation.KIND_NAMES[info.kind]} · {presentation.model_variant(info)} · "
                f"{presentation.architecture_text(info)} · trained on "
                f"{presentation.short_source(info.metadata.get('data_source'))}")
    rows = presentation.metrics_rows(info.metadata.get("metrics", {}), info.vae_config.variational)
    st.dataframe(rows, hide_index=True, key="models_metrics", height=min(420, 38 + 35 * len(rows)))
    comparison = presentation.baseline_rows(info.metadata.get("metrics", {}))
    if comparison:
        st.markdown(f"**Beside simple baselines** on its {info.metadata['metrics'].get('evaluated_on', 'test rows')} "
                    f"({info.metadata['metrics'].get('prevalence', 0):.1%} fraud), each fitted on the same training "
                    "normals and stored with the model:")
        st.dataframe(comparison, hide_index=True, key="models_baselines", column_config={
            "AUROC": st.column_config.NumberColumn(format="%.3f"), "AP": st.column_config.NumberColumn(format="%.3f"),
            "recall at 1% FPR": st.column_config.NumberColumn(format="%.3f"),
            "minimum cost (€)": st.column_config.NumberColumn(format=presentation.MONEY_COLUMN)})
        validation = info.metadata["metrics"].get("validation_comparison")
        wins = advice(validation)
        for item in wins:
            st.warning(item["text"], icon=":material/lightbulb:")
        if validation and not wins:
            st.caption(f"On its {validation['rows']:,} validation rows no stored baseline beats the VAE by more than "
                       f"the {validation['level']:.0%} bootstrap interval of the ROC AUC difference.")
    buttons = st.columns([1, 1, 1, 2])
    buttons[0].button("Make active", key="models_make_active", disabled=active, icon=":material/check:",
                      on_click=state.set_active, args=(info.name,))
    buttons[1].download_button(
        "Download zip", data=lambda: archive.export_zip(info.name, loaders.models_root()),
        file_name=f"{info.name}.zip", mime="application/zip", key="models_download",
        on_click="ignore", icon=":material/download:")
    if settings.current().viewer:
        return
    rename(info, active)
    if st.session_state.get(CONFIRM_DELETE) == info.name:
        st.warning(f"Delete **{info.name}** for good? Its folder is removed from the registry.")
        yes, no, _ = st.columns([1, 1, 3])
        if yes.button("Yes, delete", type="primary", key="models_delete_yes"):
            st.session_state.pop(CONFIRM_DELETE, None)
            with widgets.guard("Delete failed"):
                registry.delete_model(info.name, loaders.models_root())
                flash_and_rerun(f"Deleted **{info.name}**.")
        no.button("Keep it", key="models_delete_no", on_click=st.session_state.pop, args=(CONFIRM_DELETE, None))
    elif buttons[2].button("Delete…", key="models_delete", icon=":material/delete:"):
        st.session_state[CONFIRM_DELETE] = info.name
        st.rerun()


def rename(info, active: bool) -> None:
    """A new name for the model, checked as it is typed; the folder is renamed in one step."""
    field, button = st.columns([3, 1], vertical_alignment="bottom")
    new_name = field.text_input("Rename to", key=f"models_rename_{info.name}", max_chars=64,
                                placeholder="letters, digits, - and _").strip()
    problem = registry.name_problem(new_name, loaders.models_root()) if new_name else None
    if problem:
        st.error(problem, icon=":material/error:")
    if button.button("Rename", key="models_rename", icon=":material/edit:", disabled=not new_name or problem is not None):
        with widgets.guard("Rename failed"):
            registry.rename_model(info.name, new_name, loaders.models_root())
            if active:
                state.set_active(new_name)
            st.session_state[_INSPECT_NEXT] = new_name
            flash_and_rerun(f"Renamed **{info.name}** to **{new_name}**.")


def broken_section(infos) -> None:
    """Folders that are not usable models, with the reason; deletable when their name is valid."""
    broken = [i for i in infos if not i.valid]
    if not broken:
        return
    st.subheader("Unreadable folders")
    for info in broken:
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(f"**{info.name}**: {info.error}")
        if settings.current().viewer:
            continue
        if not registry.NAME_PATTERN.fullmatch(info.name):  # not a name the registry writes: not ours to delete
            text.caption("Remove it by hand from the registry folder.")
        elif st.session_state.get(CONFIRM_DELETE) == info.name:
            if button.button("Really delete", type="primary", key=f"models_delete_broken_yes_{info.name}"):
                st.session_state.pop(CONFIRM_DELETE, None)
                with widgets.guard("Delete failed"):
                    registry.delete_model(info.name, loaders.models_root())
                    flash_and_rerun(f"Deleted the unreadable folder **{info.name}**.")
        elif button.button("Delete…", key=f"models_delete_broken_{info.name}", icon=":material/delete:"):
            st.session_state[CONFIRM_DELETE] = info.name
            st.rerun()


def import_section() -> None:
    st.subheader("Import a model zip")
    if settings.current().viewer:
        st.caption(presentation.VIEW_ONLY_NOTE)
        return
    upload = st.file_uploader("Model zip (as downloaded above)", type=["zip"], key="models_upload",
                              max_upload_size=settings.current().max_zip_mb)
    name = st.text_input("Name for the imported model (optional)", key="models_import_name",
                         placeholder="default: the folder name inside the zip")
    if upload is not None and st.button("Import", key="models_import", icon=":material/upload:"):
        with widgets.guard("Import failed"):
            info = archive.import_zip(upload.getvalue(), name or None, loaders.models_root())
            st.session_state[_INSPECT_NEXT] = info.name
            flash_and_rerun(f"Imported **{info.name}**; select it in the table (or below) to make it active.")


def main() -> None:
    st.title("Models")
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")
    infos = loaders.model_infos()
    st.caption(f"Registry folder {presentation.registry_folder_text(loaders.models_root())}.")
    ready = state.usable()
    if not ready:
        widgets.no_models()
    else:
        table(infos)
        names = [i.name for i in ready]
        if st.session_state.get(_INSPECT_NEXT) in names:
            st.session_state[INSPECT] = st.session_state.pop(_INSPECT_NEXT)
        if st.session_state.get(INSPECT) not in names:
            st.session_state[INSPECT] = state.active_model("mnist") or names[0]
        labels = {i.name: presentation.model_label(i) for i in ready}
        chosen = st.selectbox("Details of", names, key=INSPECT, format_func=labels.__getitem__)
        manage(ready[names.index(chosen)])
    broken_section(infos)
    st.divider()
    import_section()


main()
