/**
 * `h(tag, attributes, ...children)`: a tiny DOM builder for the sidebar's views.
 *
 * Text children become text nodes (never HTML), so server strings cannot inject
 * markup. `on<event>` attributes add listeners; `value`, `checked` and
 * `selected` are set as properties after the children (a select's value needs
 * its options first); `false`, `null` and `undefined` leave an attribute out.
 */
type Listener = (event: Event) => void;
type AttrValue = string | number | boolean | null | undefined | Listener;
export type Attrs = Record<string, AttrValue>;
export type Child = Node | string | null | undefined | false;

const PROPERTIES = new Set(['value', 'checked', 'selected']);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  const later: [string, AttrValue][] = [];
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(name)) {
      later.push([name, value]);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child instanceof Node) {
      element.appendChild(child);
    } else if (typeof child === 'string') {
      element.appendChild(document.createTextNode(child));
    }
  }
  for (const [name, value] of later) {
    Object.assign(element, { [name]: value });
  }
  return element;
}

/** Replace an element's children, keeping keyboard focus on the element with
 * the same `data-key` (so a re-render never throws the user's focus away). */
export function replaceChildren(parent: HTMLElement, ...children: Node[]): void {
  const active = document.activeElement;
  const key =
    active instanceof HTMLElement && parent.contains(active) ? active.dataset.key : undefined;
  parent.replaceChildren(...children);
  if (key) {
    const again = parent.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
    again?.focus();
  }
}
