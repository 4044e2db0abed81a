/**
 * The left-area panel: a header with a refresh button, a filter box, the prompts
 * by folder (collapsible, remembered) in a region that scrolls on its own, and the
 * connections section below it, always in view; re-rendered from the model's
 * `changed` signal.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Poll } from '@lumino/polling';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { renderConnectionForm, renderConnections } from './connectionsView';
import { h, replaceChildren } from './dom';
import { errorText } from './errors';
import { followFiles } from './fileWatch';
import { FolderState } from './folderState';
import { renderPrompts } from './promptsView';
import { IConnection, IInvokerSidebarModel, ISelection, PANEL_ID } from './tokens';

export class InvokerSidebar extends Widget {
  constructor(
    model: IInvokerSidebarModel,
    id: string = PANEL_ID,
    folders: FolderState = new FolderState(null)
  ) {
    super();
    this.model = model;
    this._folders = folders;
    this._poll = followFiles(model, `${id}-files`);
    this.id = id;
    this.addClass('jp-InvokerSidebar');
    this.title.caption = 'Prompts and invokers';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Prompts and invokers');

    const refresh = h(
      'button',
      {
        type: 'button',
        class: 'jp-mod-styled jp-InvokerSidebar-refresh',
        'aria-label': 'Refresh prompts and connections',
        title: 'Refresh prompts and connections',
        onclick: () => void this.model.refresh()
      },
      'Refresh'
    );
    this._filter.addEventListener('input', () => this._render());
    this._filter.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this._filter.value) {
        this._filter.value = '';
        this._render();
      }
    });
    const newConnection = h(
      'button',
      {
        type: 'button',
        class: 'jp-mod-styled',
        onclick: () => this._openForm(null)
      },
      'New connection'
    );
    this.node.append(
      h(
        'header',
        { class: 'jp-InvokerSidebar-header' },
        h('h2', { class: 'jp-InvokerSidebar-title' }, 'Prompts'),
        refresh
      ),
      h('div', { class: 'jp-InvokerSidebar-filter' }, this._filter),
      this._notice,
      this._prompts,
      h(
        'section',
        { class: 'jp-InvokerSidebar-connections', 'aria-label': 'Connections' },
        h(
          'header',
          { class: 'jp-InvokerSidebar-header' },
          h('h2', { class: 'jp-InvokerSidebar-title' }, 'Connections'),
          newConnection
        ),
        this._form,
        this._connections
      )
    );
    model.changed.connect(this._render, this);
    folders.changed.connect(this._render, this);
    this._render();
  }

  readonly model: IInvokerSidebarModel;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._render, this);
    this._folders.changed.disconnect(this._render, this);
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this.model.loading) {
      void this.model.refresh(); // one under way already answers for now
    }
    void this._poll.start();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      void this._poll.start(); // restored as the open panel: no after-show message comes
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    void this._poll.stop();
  }

  protected onBeforeDetach(msg: Message): void {
    void this._poll.stop();
    super.onBeforeDetach(msg);
  }

  private _render(): void {
    const model = this.model;
    if (!this._painted && model.prompts.length) {
      this._painted = true;
      performance.mark('jupyter-invoker:first-paint');
    }
    this._notice.textContent = model.error
      ? model.error
      : this._message || (model.loading ? 'Refreshing…' : '');
    this._notice.classList.toggle('jp-InvokerSidebar-error', Boolean(model.error || this._failed));
    replaceChildren(
      this._prompts,
      renderPrompts(
        model,
        this._expanded,
        {
          select: (path, selection) => void this._select(path, selection),
          togglePreview: path => this._togglePreview(path),
          toggleFolder: folder => this._folders.toggle(folder)
        },
        this.id,
        { filter: this._filter.value, isCollapsed: folder => this._folders.isCollapsed(folder) }
      )
    );
    replaceChildren(
      this._connections,
      renderConnections(model, this._results, {
        edit: connection => this._openForm(connection),
        test: name => void this._test(name),
        remove: name => void this._remove(name)
      })
    );
  }

  private _say(text: string, failed = false): void {
    this._message = text;
    this._failed = failed;
    this._render();
  }

  private async _select(path: string, selection: ISelection | null): Promise<void> {
    try {
      await this.model.select(path, selection);
      const what = selection?.connection ?? selection?.invoker ?? "the file's own invoker";
      this._say(`${path} now runs on ${what}.`);
    } catch (error) {
      this._say(errorText(error), true);
      void this.model.refresh();
    }
  }

  private _togglePreview(path: string): void {
    if (this._expanded.has(path)) {
      this._expanded.delete(path);
    } else {
      this._expanded.add(path);
      void this.model.loadDetails(path);
    }
    this._render();
  }

  private _openForm(connection: IConnection | null): void {
    const form = renderConnectionForm(
      this.model,
      connection,
      () => this._form.replaceChildren(),
      this.id
    );
    this._form.replaceChildren(form);
    form.querySelector<HTMLInputElement>('input')?.focus();
  }

  private async _test(name: string): Promise<void> {
    this._results.set(name, { ok: true, text: 'Testing…' });
    this._render();
    try {
      const result = await this.model.testConnection(name);
      const answer = result.text ? `: “${result.text.trim()}”` : '';
      const text = result.ok
        ? `OK: ${result.invoker ?? ''} ${result.model ?? ''} answered in ${(result.elapsed_s ?? 0).toFixed(2)} s${answer}`
        : (result.error ?? 'The test failed.');
      this._results.set(name, { ok: result.ok, text: text.replace(/\s+/g, ' ') });
    } catch (error) {
      this._results.set(name, { ok: false, text: errorText(error) });
    }
    this._render();
  }

  private async _remove(name: string): Promise<void> {
    const answer = await showDialog({
      title: 'Delete connection',
      body: `Delete the connection ${name}? Selections and defaults naming it are removed too.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.model.deleteConnection(name);
      this._results.delete(name);
      this._say(`Deleted the connection ${name}.`);
    } catch (error) {
      this._say(errorText(error), true);
    }
  }

  private _filter = h('input', {
    type: 'search',
    class: 'jp-mod-styled jp-InvokerSidebar-filterInput',
    placeholder: 'Filter prompts by name or path',
    'aria-label': 'Filter prompts',
    'data-key': 'filter',
    autocomplete: 'off',
    spellcheck: 'false'
  });
  private _notice = h('p', {
    class: 'jp-InvokerSidebar-notice',
    role: 'status',
    'aria-live': 'polite'
  });
  private _prompts = h('div', { class: 'jp-InvokerSidebar-prompts' });
  private _form = h('div', { class: 'jp-InvokerSidebar-formHost' });
  private _connections = h('div', { class: 'jp-InvokerSidebar-connectionList' });
  private _expanded = new Set<string>();
  private _results = new Map<string, { ok: boolean; text: string }>();
  private _message = '';
  private _failed = false;
  private _painted = false;
  private _folders: FolderState;
  private _poll: Poll;
}
