/**
 * The connections section: the named connections with edit, test and delete,
 * and a form to create or edit one. The key field takes an environment
 * variable's NAME; a value that is not a name is cleared at once, so a pasted
 * key never stays in the page.
 */
import {
  CONNECTION_KINDS,
  IConnectionForm,
  VARIABLE_NAME,
  connectionOf,
  formOf,
  keyVariable,
  usesApiVersion
} from './connectionFields';
import { h } from './dom';
import { errorText } from './errors';
import { IConnection, IInvokerSidebarModel } from './tokens';

const CONNECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface IConnectionActions {
  edit(connection: IConnection): void;
  test(name: string): void;
  remove(name: string): void;
}

function endpointOf(connection: IConnection): string {
  const form = formOf(connection);
  return [form.endpoint, form.model].filter(Boolean).join(' · ');
}

function keyText(connection: IConnection): string {
  const variable = connection.key_env || keyVariable(connection.configuration);
  const key = variable ? `key: $${variable} (${connection.key_set ? 'set' : 'unset'})` : 'no key';
  const needs = connection.needs?.length ? ` · needs ${connection.needs.join(', ')}` : '';
  return `${key}${needs}${connection.default ? ` · default for ${connection.invoker}` : ''}`;
}

/** The list of connections, with each one's last test result. */
export function renderConnections(
  model: IInvokerSidebarModel,
  results: ReadonlyMap<string, { ok: boolean; text: string }>,
  actions: IConnectionActions
): HTMLElement {
  if (!model.connections.length) {
    return h('p', { class: 'jp-InvokerSidebar-muted' }, 'No named connection yet.');
  }
  return h(
    'ul',
    { class: 'jp-InvokerSidebar-list' },
    model.connections.map(connection => {
      const result = results.get(connection.name);
      return h(
        'li',
        { class: 'jp-InvokerSidebar-connection', 'data-name': connection.name },
        h(
          'div',
          { class: 'jp-InvokerSidebar-promptHead' },
          h('span', { class: 'jp-InvokerSidebar-name' }, connection.name),
          h('span', { class: 'jp-InvokerSidebar-kind' }, connection.invoker)
        ),
        h('div', { class: 'jp-InvokerSidebar-meta' }, endpointOf(connection) || 'default endpoint'),
        h('div', { class: 'jp-InvokerSidebar-meta' }, keyText(connection)),
        h(
          'div',
          { class: 'jp-InvokerSidebar-actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'jp-mod-styled',
              'data-key': `edit:${connection.name}`,
              'aria-label': `Edit connection ${connection.name}`,
              onclick: () => actions.edit(connection)
            },
            'Edit'
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'jp-mod-styled',
              'data-key': `test:${connection.name}`,
              'aria-label': `Test connection ${connection.name}`,
              onclick: () => actions.test(connection.name)
            },
            'Test'
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'jp-mod-styled',
              'data-key': `delete:${connection.name}`,
              'aria-label': `Delete connection ${connection.name}`,
              onclick: () => actions.remove(connection.name)
            },
            'Delete'
          )
        ),
        h(
          'p',
          {
            class: result
              ? `jp-InvokerSidebar-result ${result.ok ? 'jp-mod-ok' : 'jp-InvokerSidebar-error'}`
              : 'jp-InvokerSidebar-result',
            role: 'status'
          },
          result ? result.text : ''
        )
      );
    })
  );
}

function field(
  id: string,
  label: string,
  input: HTMLInputElement | HTMLSelectElement,
  help?: string
): HTMLElement {
  input.id = id;
  const helpId = `${id}-help`;
  if (help) {
    input.setAttribute('aria-describedby', helpId);
  }
  return h(
    'div',
    { class: 'jp-InvokerSidebar-field' },
    h('label', { for: id }, label),
    input,
    help ? h('div', { id: helpId, class: 'jp-InvokerSidebar-help' }, help) : null
  );
}

function input(name: string, value: string, placeholder = ''): HTMLInputElement {
  return h('input', {
    type: 'text',
    name,
    class: 'jp-mod-styled',
    value,
    placeholder,
    autocomplete: 'off',
    spellcheck: 'false'
  });
}

/**
 * Create (no `previous`) or edit (`previous` = the stored name) a connection.
 * Resolves when saved; `onDone` runs after save or cancel.
 */
export function renderConnectionForm(
  model: IInvokerSidebarModel,
  previous: IConnection | null,
  onDone: () => void,
  idPrefix: string
): HTMLFormElement {
  const start: IConnectionForm = previous
    ? formOf(previous)
    : {
        name: '',
        invoker: 'openai',
        endpoint: '',
        model: '',
        apiVersion: '',
        keyVariable: '',
        isDefault: false
      };
  const kinds = [...CONNECTION_KINDS];
  for (const invoker of model.invokers) {
    if (invoker.name !== 'local' && !kinds.includes(invoker.name)) {
      kinds.push(invoker.name);
    }
  }
  if (!kinds.includes(start.invoker)) {
    kinds.push(start.invoker);
  }
  const name = input('name', start.name, 'e.g. my-openai');
  const invoker = h(
    'select',
    { name: 'invoker', class: 'jp-mod-styled', value: start.invoker },
    kinds.map(kind => h('option', { value: kind }, kind))
  );
  const endpoint = input('endpoint', start.endpoint, 'https://… (empty: the default)');
  const modelName = input('model', start.model, 'model or deployment');
  const apiVersion = input('api_version', start.apiVersion, 'e.g. 2024-10-21');
  const keyName = input('key_variable', start.keyVariable, 'e.g. OPENAI_API_KEY');
  const isDefault = h('input', { type: 'checkbox', name: 'default', checked: start.isDefault });
  const message = h('p', { class: 'jp-InvokerSidebar-error', role: 'alert' });
  const versionField = field(`${idPrefix}-f-version`, 'API version', apiVersion);
  const showVersion = (): void => {
    versionField.hidden = !usesApiVersion(invoker.value);
  };
  invoker.addEventListener('change', showVersion);
  showVersion();

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const form: IConnectionForm = {
      name: name.value,
      invoker: invoker.value,
      endpoint: endpoint.value,
      model: modelName.value,
      apiVersion: apiVersion.value,
      keyVariable: keyName.value,
      isDefault: isDefault.checked
    };
    if (!CONNECTION_NAME.test(form.name.trim())) {
      message.textContent =
        'Give the connection a name of letters, digits, "-", "_" or "." (starting with a letter or digit).';
      name.focus();
      return;
    }
    if (form.keyVariable.trim() && !VARIABLE_NAME.test(form.keyVariable.trim())) {
      keyName.value = '';
      message.textContent =
        'The key field takes the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself; the value was cleared.';
      keyName.focus();
      return;
    }
    message.textContent = 'Saving…';
    try {
      await model.saveConnection(connectionOf(form), previous?.name);
      onDone();
    } catch (error) {
      message.textContent = errorText(error);
    }
  };

  return h(
    'form',
    {
      class: 'jp-InvokerSidebar-form',
      'aria-label': previous ? `Edit connection ${previous.name}` : 'New connection',
      onsubmit: event => void submit(event)
    },
    h('h4', {}, previous ? `Edit ${previous.name}` : 'New connection'),
    field(`${idPrefix}-f-name`, 'Name', name),
    field(`${idPrefix}-f-invoker`, 'Invoker', invoker),
    field(`${idPrefix}-f-endpoint`, 'Endpoint', endpoint),
    field(`${idPrefix}-f-model`, 'Model or deployment', modelName),
    versionField,
    field(
      'jp-InvokerSidebar-f-key',
      'Key variable',
      keyName,
      'The NAME of the environment variable holding the key, set where the server and kernels run. The key itself is never stored or shown.'
    ),
    h(
      'label',
      { class: 'jp-InvokerSidebar-check' },
      isDefault,
      ' Default for its invoker (prompts with no selection that ask for it use this)'
    ),
    message,
    h(
      'div',
      { class: 'jp-InvokerSidebar-actions' },
      h('button', { type: 'submit', class: 'jp-mod-styled jp-mod-accept' }, 'Save'),
      h('button', { type: 'button', class: 'jp-mod-styled', onclick: onDone }, 'Cancel')
    )
  );
}
