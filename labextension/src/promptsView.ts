/**
 * The prompts section: every `.prompty` by folder (folders collapse), narrowed by
 * the filter box, each with its name, the invoker its file asks for, a selector
 * (invokers and connections), a status and a preview of the rendered messages.
 */
import { DEFAULT_INVOKER } from './model';
import { h } from './dom';
import { IInvokerSidebarModel, IPromptSummary, ISelection } from './tokens';

export interface IPromptActions {
  select(path: string, selection: ISelection | null): void;
  togglePreview(path: string): void;
  toggleFolder(folder: string): void;
}

/** How the list is narrowed: the filter text and the collapsed folders. */
export interface IPromptView {
  filter: string;
  isCollapsed(folder: string): boolean;
}

/** Whether a prompt matches the filter (its name, path or description, any case). */
export function matches(prompt: IPromptSummary, filter: string): boolean {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const text = `${prompt.name} ${prompt.path} ${prompt.description ?? ''}`.toLowerCase();
  return words.every(word => text.includes(word));
}

/** `<select>` value for a selection: '', `invoker:NAME` or `connection:NAME`. */
export function selectionValue(selection: ISelection | null): string {
  if (selection?.connection) {
    return `connection:${selection.connection}`;
  }
  return selection?.invoker ? `invoker:${selection.invoker}` : '';
}

export function selectionOf(value: string): ISelection | null {
  if (value.startsWith('connection:')) {
    return { connection: value.slice('connection:'.length) };
  }
  return value.startsWith('invoker:') ? { invoker: value.slice('invoker:'.length) } : null;
}

function runsOnText(model: IInvokerSidebarModel, prompt: IPromptSummary): string {
  const runs = model.runsOn(prompt);
  const invoker = runs.invoker ?? DEFAULT_INVOKER;
  return runs.connection ? `runs on ${invoker} via ${runs.connection}` : `runs on ${invoker}`;
}

function folderOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? '' : path.slice(0, cut);
}

function selector(
  model: IInvokerSidebarModel,
  prompt: IPromptSummary,
  id: string,
  actions: IPromptActions
): HTMLSelectElement {
  const current = selectionValue(prompt.selected);
  const invokers = model.invokers.map(item => item.name);
  const connections = model.connections.map(item => item.name);
  // A selection naming something no longer listed stays visible (and selected).
  if (prompt.selected?.invoker && !invokers.includes(prompt.selected.invoker)) {
    invokers.push(prompt.selected.invoker);
  }
  if (prompt.selected?.connection && !connections.includes(prompt.selected.connection)) {
    connections.push(prompt.selected.connection);
  }
  const own = prompt.asks_for || DEFAULT_INVOKER;
  return h(
    'select',
    {
      id,
      class: 'jp-InvokerSidebar-select',
      'data-key': `select:${prompt.path}`,
      value: current,
      onchange: event => {
        const value = (event.target as HTMLSelectElement).value;
        actions.select(prompt.path, selectionOf(value));
      }
    },
    h('option', { value: '' }, `file's own (${own})`),
    h(
      'optgroup',
      { label: 'Invokers' },
      invokers.map(name => h('option', { value: `invoker:${name}` }, name))
    ),
    connections.length
      ? h(
          'optgroup',
          { label: 'Connections' },
          connections.map(name => h('option', { value: `connection:${name}` }, name))
        )
      : null
  );
}

function preview(model: IInvokerSidebarModel, prompt: IPromptSummary, id: string): HTMLElement {
  const details = model.details(prompt.path);
  const failure = model.detailsError(prompt.path);
  let body: (HTMLElement | string)[];
  if (failure) {
    body = [h('p', { class: 'jp-InvokerSidebar-error', role: 'alert' }, failure)];
  } else if (!details) {
    body = [h('p', { class: 'jp-InvokerSidebar-muted' }, 'Loading the preview…')];
  } else if (details.preview.error) {
    body = [h('p', { class: 'jp-InvokerSidebar-error' }, details.preview.error)];
  } else if (details.preview.text !== null) {
    body = [h('pre', { class: 'jp-InvokerSidebar-content' }, details.preview.text)];
  } else {
    body = details.preview.messages.map(message =>
      h(
        'div',
        { class: 'jp-InvokerSidebar-message' },
        h('span', { class: 'jp-InvokerSidebar-role' }, message.role),
        h('pre', { class: 'jp-InvokerSidebar-content' }, message.content)
      )
    );
    if (!body.length) {
      body = [h('p', { class: 'jp-InvokerSidebar-muted' }, 'The sample renders no messages.')];
    }
  }
  return h(
    'div',
    { id, class: 'jp-InvokerSidebar-preview', 'aria-label': `Preview of ${prompt.name}` },
    ...body
  );
}

function row(
  model: IInvokerSidebarModel,
  prompt: IPromptSummary,
  idPrefix: string,
  index: number,
  expanded: boolean,
  actions: IPromptActions
): HTMLElement {
  const selectId = `${idPrefix}-select-${index}`;
  const previewId = `${idPrefix}-preview-${index}`;
  const status = model.status(prompt);
  const file = prompt.path.slice(prompt.path.lastIndexOf('/') + 1);
  return h(
    'li',
    { class: 'jp-InvokerSidebar-prompt', 'data-path': prompt.path, 'data-status': status.kind },
    h(
      'div',
      { class: 'jp-InvokerSidebar-promptHead' },
      h(
        'span',
        { class: 'jp-InvokerSidebar-name', title: prompt.description ?? '' },
        prompt.name || file
      ),
      h(
        'span',
        { class: `jp-InvokerSidebar-status jp-mod-${status.kind}`, title: status.detail },
        status.label
      )
    ),
    h(
      'div',
      { class: 'jp-InvokerSidebar-meta' },
      prompt.error ? file : `${file} · file asks for ${prompt.asks_for || DEFAULT_INVOKER}`
    ),
    prompt.error
      ? null
      : h(
          'div',
          { class: 'jp-InvokerSidebar-meta jp-InvokerSidebar-runsOn' },
          runsOnText(model, prompt)
        ),
    status.kind === 'ready' ? null : h('div', { class: 'jp-InvokerSidebar-detail' }, status.detail),
    h(
      'div',
      { class: 'jp-InvokerSidebar-choose' },
      h('label', { for: selectId }, 'Runs on'),
      selector(model, prompt, selectId, actions)
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'jp-InvokerSidebar-link',
        'data-key': `preview:${prompt.path}`,
        'aria-expanded': expanded ? 'true' : 'false',
        'aria-controls': previewId,
        onclick: () => actions.togglePreview(prompt.path)
      },
      expanded ? 'Hide preview' : 'Preview'
    ),
    expanded ? preview(model, prompt, previewId) : null
  );
}

function folderSection(
  folder: string,
  rows: HTMLElement[],
  total: number,
  open: boolean,
  filtering: boolean,
  actions: IPromptActions
): HTMLElement {
  const label = folder || '(server root)';
  const count = filtering ? `${rows.length} of ${total}` : String(total);
  const listId = `folder-${encodeURIComponent(folder)}`;
  return h(
    'section',
    { class: 'jp-InvokerSidebar-folder', 'aria-label': `Folder ${label}` },
    h(
      'h3',
      { class: 'jp-InvokerSidebar-folderName' },
      h(
        'button',
        {
          type: 'button',
          class: 'jp-InvokerSidebar-folderToggle',
          'data-key': `folder:${folder}`,
          'data-folder': folder,
          'aria-expanded': open ? 'true' : 'false',
          title: open ? `Collapse ${label}` : `Expand ${label}`,
          // While filtering every match shows: the toggle waits until the filter is cleared.
          disabled: filtering,
          onclick: () => actions.toggleFolder(folder)
        },
        h('span', { class: 'jp-InvokerSidebar-caret', 'aria-hidden': 'true' }, open ? '▾' : '▸'),
        h(
          'span',
          { class: 'jp-InvokerSidebar-folderLabel' },
          // A long path wraps after a '/', not inside a name.
          label.split('/').flatMap((part, i) => (i ? [h('wbr'), `/${part}`] : [part]))
        ),
        h('span', { class: 'jp-InvokerSidebar-count' }, count)
      )
    ),
    open ? h('ul', { class: 'jp-InvokerSidebar-list', 'data-list': listId }, rows) : null
  );
}

/** The prompts grouped by folder (folders sorted, prompts by path), narrowed by the
 * view's filter; element ids start with `idPrefix` (one per panel: a page may hold two). */
export function renderPrompts(
  model: IInvokerSidebarModel,
  expanded: ReadonlySet<string>,
  actions: IPromptActions,
  idPrefix: string,
  view: IPromptView = { filter: '', isCollapsed: () => false }
): HTMLElement {
  if (!model.prompts.length) {
    const text = model.loading
      ? 'Looking for .prompty files…'
      : 'No .prompty file under the server root yet.';
    return h('p', { class: 'jp-InvokerSidebar-muted' }, text);
  }
  const filtering = view.filter.trim() !== '';
  const folders = new Map<string, { all: number; shown: IPromptSummary[] }>();
  for (const prompt of model.prompts) {
    const folder = prompt.folder ?? folderOf(prompt.path);
    const entry = folders.get(folder) ?? { all: 0, shown: [] };
    entry.all += 1;
    if (!filtering || matches(prompt, view.filter)) {
      entry.shown.push(prompt);
    }
    folders.set(folder, entry);
  }
  const sections: HTMLElement[] = [];
  let index = 0;
  for (const [folder, { all, shown }] of folders) {
    if (filtering && !shown.length) {
      continue;
    }
    const open = filtering || !view.isCollapsed(folder);
    // A collapsed folder's rows are not built; ids stay those of the full list.
    const first = index;
    index += shown.length;
    const rows = open
      ? shown.map((prompt, i) =>
          row(model, prompt, idPrefix, first + i, expanded.has(prompt.path), actions)
        )
      : [];
    sections.push(folderSection(folder, rows, all, open, filtering, actions));
  }
  if (!sections.length) {
    return h(
      'p',
      { class: 'jp-InvokerSidebar-muted', role: 'status' },
      `No prompt matches “${view.filter.trim()}”.`
    );
  }
  return h('div', { class: 'jp-InvokerSidebar-folders' }, sections);
}
