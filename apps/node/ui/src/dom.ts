// A tiny element builder: the page re-renders a section from each snapshot with these, so no
// framework is needed. Text always goes in as text nodes (never as HTML).

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  readonly class?: string | undefined;
  readonly title?: string | undefined;
  readonly [attribute: `data-${string}`]: string | undefined;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (typeof value === 'string') element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'object' ? child : String(child));
  }
  return element;
}

/** Replaces the children of the element with id `id`. */
export function fill(id: string, ...children: Child[]): void {
  const target = document.getElementById(id);
  if (target === null) return;
  target.replaceChildren(
    ...children.flatMap((child) =>
      child === null || child === undefined || child === false
        ? []
        : [typeof child === 'object' ? child : String(child)],
    ),
  );
}

export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no #${id}`);
  return element;
}

export function query<T extends Element>(selector: string, type: new () => T): T {
  const element = document.querySelector(selector);
  if (!(element instanceof type)) throw new Error(`the page has no ${selector}`);
  return element;
}
