/**
 * jupyter_invoker's JupyterLab extension: the prompts sidebar (JupyterLab's left
 * area; Notebook 7's notebook and editor pages show it in their left panel) and, in
 * Notebook 7's file tree page, the same panel as a "Prompts" tab.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { INotebookTree } from '@jupyter-notebook/tree';

import { refreshOnFileChange } from './fileWatch';
import { folderStateFor } from './folderState';
import { invokerIcon } from './icon';
import { InvokerSidebarModel } from './model';
import { InvokerSidebar } from './panel';
import { InvokerClient } from './request';
import { CommandIDs, IInvokerSidebarModel, PANEL_ID, TREE_PANEL_ID } from './tokens';

/** After the file browser (100), running sessions (200) and table of contents (400). */
const RANK = 650;

const sidebar: JupyterFrontEndPlugin<IInvokerSidebarModel> = {
  id: 'jupyter-invoker:sidebar',
  description: 'Lists every .prompty in the workspace and switches the invoker each one runs on.',
  autoStart: true,
  provides: IInvokerSidebarModel,
  optional: [ILayoutRestorer, ICommandPalette, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ): IInvokerSidebarModel => {
    const model = new InvokerSidebarModel(new InvokerClient());
    const panel = new InvokerSidebar(model, PANEL_ID, folderStateFor(state));
    panel.title.icon = invokerIcon;
    app.shell.add(panel, 'left', { rank: RANK });
    restorer?.add(panel, PANEL_ID);
    refreshOnFileChange(app.serviceManager.contents, model);
    // Fetch now, while the rest of the application starts, so the panel has its list
    // when opened. The marks let tests and users measure the first paint.
    void model.refresh();
    void app.restored.then(() => performance.mark('jupyter-invoker:restored'));

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show Prompts and Invokers',
      execute: () => app.shell.activateById(PANEL_ID)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh Prompts and Invokers',
      execute: () => model.refresh()
    });
    palette?.addItem({ command: CommandIDs.open, category: 'Prompts' });
    palette?.addItem({ command: CommandIDs.refresh, category: 'Prompts' });
    return model;
  }
};

const notebookTree: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-invoker:notebook-tree',
  description: "Adds the prompts panel as a tab of Notebook 7's file tree page.",
  autoStart: true,
  requires: [IInvokerSidebarModel],
  optional: [INotebookTree, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    model: IInvokerSidebarModel,
    tree: INotebookTree | null,
    state: IStateDB | null
  ): void => {
    if (!tree) {
      return; // JupyterLab, or a Notebook 7 page other than the tree
    }
    const panel = new InvokerSidebar(model, TREE_PANEL_ID, folderStateFor(state));
    panel.title.label = 'Prompts';
    panel.title.icon = invokerIcon;
    tree.addWidget(panel);
  }
};

export default [sidebar, notebookTree];
