/**
 * Collapsed folders are remembered through the state database.
 */
import { FolderState, IFolderStore, folderStateFor } from '../folderState';

class MemoryStore implements IFolderStore {
  saved = new Map<string, unknown>();
  async fetch(id: string): Promise<unknown> {
    return this.saved.get(id);
  }
  async save(id: string, value: { collapsed: string[] }): Promise<void> {
    this.saved.set(id, value);
  }
}

describe('FolderState', () => {
  it('toggles, emits and saves; a new page load reads it back', async () => {
    const store = new MemoryStore();
    const first = new FolderState(store);
    await first.ready;
    let changes = 0;
    first.changed.connect(() => (changes += 1));
    first.toggle('tests/assets');
    first.toggle('drafts');
    first.toggle('drafts');
    expect(first.isCollapsed('tests/assets')).toBe(true);
    expect(first.isCollapsed('drafts')).toBe(false);
    expect(changes).toBe(3);
    const again = new FolderState(store);
    await again.ready;
    expect(again.isCollapsed('tests/assets')).toBe(true);
  });

  it('works without a database and ignores what it cannot read', async () => {
    const alone = new FolderState(null);
    await alone.ready;
    alone.toggle('x');
    expect(alone.isCollapsed('x')).toBe(true);
    const broken = new FolderState({
      fetch: () => Promise.reject(new Error('no')),
      save: () => Promise.resolve()
    });
    await broken.ready;
    expect(broken.isCollapsed('x')).toBe(false);
  });

  it('is one per page and store: every panel sees the same folders', async () => {
    const store = new MemoryStore();
    const sidebar = folderStateFor(store);
    const treeTab = folderStateFor(store);
    expect(treeTab).toBe(sidebar);
    let seen = 0;
    treeTab.changed.connect(() => (seen += 1));
    sidebar.toggle('tests');
    expect(treeTab.isCollapsed('tests')).toBe(true);
    expect(seen).toBe(1);
  });
});
