/**
 * jupyter_invoker's JupyterLab extension: one plugin, the prompts sidebar.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { refreshOnFileChange } from './fileWatch';
import { invokerIcon } from './icon';
import { InvokerSidebarModel } from './model';
import { InvokerSidebar } from './panel';
import { CommandIDs, IInvokerSidebarModel, PANEL_ID } from './tokens';

/** After the file browser (100), running sessions (200) and table of contents (400). */
const RANK = 650;

const sidebar: JupyterFrontEndPlugin<IInvokerSidebarModel> = {
  id: 'jupyter-invoker:sidebar',
  description: 'Lists every .prompty in the workspace and switches the invoker each one runs on.',
  autoStart: true,
  provides: IInvokerSidebarModel,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ): IInvokerSidebarModel => {
    const model = new InvokerSidebarModel();
    const panel = new InvokerSidebar(model);
    panel.title.icon = invokerIcon;
    app.shell.add(panel, 'left', { rank: RANK });
    restorer?.add(panel, PANEL_ID);
    refreshOnFileChange(app.serviceManager.contents, model);
    // Fetch once the layout is restored, so the panel paints its list at once when opened.
    void app.restored.then(() => model.refresh());

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

export default sidebar;
