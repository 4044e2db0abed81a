/**
 * The prompts section: every `.prompty` by folder, each with its name, the
 * invoker its file asks for, a selector (invokers and connections), a status
 * and a preview of the rendered messages.
 */
import { DEFAULT_INVOKER, InvokerSidebarModel } from './model';
import { h } from './dom';
import { IPromptSummary, ISelection } from './tokens';

export interface IPromptActions {
  select(path: string, selection: ISelection | null): void;
  togglePreview(path: string): void;
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

function runsOnText(model: InvokerSidebarModel, prompt: IPromptSummary): string {
  const runs = model.runsOn(prompt);
  const invoker = runs.invoker ?? DEFAULT_INVOKER;
  return runs.connection ? `runs on ${invoker} via ${runs.connection}` : `runs on ${invoker}`;
}

function folderOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? '' : path.slice(0, cut);
}

function selector(
  model: InvokerSidebarModel,
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

function preview(model: InvokerSidebarModel, prompt: IPromptSummary, id: string): HTMLElement {
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
  model: InvokerSidebarModel,
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
      h('span', { class: 'jp-InvokerSidebar-name', title: prompt.description ?? '' }, prompt.name || file),
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
      : h('div', { class: 'jp-InvokerSidebar-meta jp-InvokerSidebar-runsOn' }, runsOnText(model, prompt)),
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

/** The prompts grouped by folder (folders sorted, prompts by path); element ids
 * start with `idPrefix` (one per panel: a page may hold two panels). */
export function renderPrompts(
  model: InvokerSidebarModel,
  expanded: ReadonlySet<string>,
  actions: IPromptActions,
  idPrefix: string
): HTMLElement {
  if (!model.prompts.length) {
    const text = model.loading
      ? 'Looking for .prompty files…'
      : 'No .prompty file under the server root yet.';
    return h('p', { class: 'jp-InvokerSidebar-muted' }, text);
  }
  const folders = new Map<string, IPromptSummary[]>();
  for (const prompt of model.prompts) {
    const folder = prompt.folder ?? folderOf(prompt.path);
    folders.set(folder, [...(folders.get(folder) ?? []), prompt]);
  }
  let index = 0;
  return h(
    'div',
    { class: 'jp-InvokerSidebar-folders' },
    [...folders.entries()].map(([folder, prompts]) =>
      h(
        'section',
        { class: 'jp-InvokerSidebar-folder', 'aria-label': `Folder ${folder || '(server root)'}` },
        h('h3', { class: 'jp-InvokerSidebar-folderName' }, folder || '(server root)'),
        h(
          'ul',
          { class: 'jp-InvokerSidebar-list' },
          prompts.map(prompt =>
            row(model, prompt, idPrefix, index++, expanded.has(prompt.path), actions)
          )
        )
      )
    )
  );
}
