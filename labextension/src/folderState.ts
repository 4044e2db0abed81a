/**
 * Which prompt folders are collapsed, remembered across page loads (JupyterLab's
 * state database when there is one) and shared by every panel of the page.
 *
 *   const folders = folderStateFor(stateDB);   // the page's one; stateDB may be null
 *   folders.isCollapsed('tests/assets');          // false until toggled
 *   folders.toggle('tests/assets');               // saved; `changed` is emitted
 */
import { ISignal, Signal } from '@lumino/signaling';

/** What this needs of JupyterLab's `IStateDB` (typed here so tests need no JupyterLab). */
export interface IFolderStore {
  fetch(id: string): Promise<unknown>;
  save(id: string, value: { collapsed: string[] }): Promise<unknown>;
}

const KEY = 'jupyter-invoker:sidebar-folders';

export class FolderState {
  constructor(store: IFolderStore | null) {
    this._store = store;
    this.ready = store
      ? store.fetch(KEY).then(
          saved => {
            const list = (saved as { collapsed?: unknown } | undefined)?.collapsed;
            if (Array.isArray(list)) {
              this._collapsed = new Set(list.filter(item => typeof item === 'string'));
              this._changed.emit();
            }
          },
          () => undefined // nothing saved yet, or no database: all folders open
        )
      : Promise.resolve();
  }

  /** Resolves once the saved state (if any) is in. */
  readonly ready: Promise<void>;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  isCollapsed(folder: string): boolean {
    return this._collapsed.has(folder);
  }

  toggle(folder: string): void {
    if (!this._collapsed.delete(folder)) {
      this._collapsed.add(folder);
    }
    this._changed.emit();
    void this._store?.save(KEY, { collapsed: [...this._collapsed].sort() });
  }

  private _store: IFolderStore | null;
  private _collapsed = new Set<string>();
  private _changed = new Signal<this, void>(this);
}

const shared = new Map<IFolderStore | null, FolderState>();

/**
 * The page's one FolderState for `store`: the sidebar and Notebook 7's Prompts tab
 * share it, so a folder collapsed in one is collapsed in the other, and neither's
 * save overwrites the other's.
 */
export function folderStateFor(store: IFolderStore | null): FolderState {
  let folders = shared.get(store);
  if (!folders) {
    folders = new FolderState(store);
    shared.set(store, folders);
  }
  return folders;
}
