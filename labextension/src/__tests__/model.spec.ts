/**
 * The sidebar's model against a fake client: what it fetches, when it says it
 * changed, and what status each prompt shows.
 */
import { InvokerSidebarModel } from '../model';
import {
  IConnection,
  IConnectionRequest,
  IInvokerClient,
  IInvokerInfo,
  IPromptDetails,
  IPromptSummary,
  ISelection,
  ITestResult
} from '../tokens';

function prompt(path: string, extra: Partial<IPromptSummary> = {}): IPromptSummary {
  return {
    path,
    name: path.replace(/^.*\//, '').replace('.prompty', ''),
    description: null,
    api: 'chat',
    asks_for: 'local',
    selected: null,
    inputs: {},
    error: null,
    runs_on: { invoker: 'local', connection: null },
    ready: true,
    needs: [],
    status_error: null,
    version: '1',
    ...extra
  };
}

class FakeClient implements IInvokerClient {
  promptList: IPromptSummary[] = [prompt('b/two.prompty'), prompt('a/one.prompty')];
  invokerList: IInvokerInfo[] = [{ name: 'local', kind: 'builtin', ready: true, needs: [] }];
  connectionList: IConnection[] = [];
  calls: string[] = [];
  failWith: Error | null = null;

  async prompts(): Promise<IPromptSummary[]> {
    this.calls.push('prompts');
    if (this.failWith) {
      throw this.failWith;
    }
    return this.promptList.map(item => ({ ...item }));
  }
  async prompt(path: string): Promise<IPromptDetails> {
    this.calls.push(`prompt ${path}`);
    const found = this.promptList.find(item => item.path === path);
    if (!found) {
      throw new Error(`There is no prompt file '${path}'.`);
    }
    return {
      ...found,
      configuration: {},
      preview: {
        messages: [{ role: 'user', content: `v${found.version}` }],
        text: null,
        error: null
      }
    };
  }
  async invokers(): Promise<IInvokerInfo[]> {
    this.calls.push('invokers');
    return this.invokerList;
  }
  async setSelection(path: string, selection: ISelection): Promise<void> {
    this.calls.push(`select ${path} ${JSON.stringify(selection)}`);
    this.promptList = this.promptList.map(item =>
      item.path === path ? { ...item, selected: selection } : item
    );
  }
  async clearSelection(path: string): Promise<void> {
    this.calls.push(`clear ${path}`);
  }
  async connections(): Promise<IConnection[]> {
    this.calls.push('connections');
    return this.connectionList;
  }
  async createConnection(connection: IConnectionRequest): Promise<void> {
    this.calls.push(`create ${connection.name}`);
  }
  async updateConnection(name: string, connection: IConnectionRequest): Promise<void> {
    this.calls.push(`update ${name} -> ${connection.name}`);
  }
  async deleteConnection(name: string): Promise<void> {
    this.calls.push(`delete ${name}`);
  }
  async testConnection(name: string): Promise<ITestResult> {
    return { ok: true, connection: name };
  }
}

function counted(model: InvokerSidebarModel): { count: number } {
  const seen = { count: 0 };
  model.changed.connect(() => {
    seen.count += 1;
  });
  return seen;
}

describe('InvokerSidebarModel', () => {
  it('refresh() fetches the three lists and sorts prompts by path', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    await model.refresh();
    expect(model.prompts.map(item => item.path)).toEqual(['a/one.prompty', 'b/two.prompty']);
    expect(model.invokers.map(item => item.name)).toEqual(['local']);
    expect(model.error).toBeNull();
    expect(model.loading).toBe(false);
    expect(client.calls.sort()).toEqual(['connections', 'invokers', 'prompts']);
  });

  it('calls during a refresh share one extra round', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    const first = model.refresh();
    const second = model.refresh();
    const third = model.refresh();
    expect(second).toBe(third);
    await Promise.all([first, second, third]);
    expect(client.calls.filter(call => call === 'prompts')).toHaveLength(2);
  });

  it('a poll with an unchanged answer changes and emits nothing', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    await model.refresh();
    const before = model.prompts;
    const seen = counted(model);
    expect(await model.poll()).toBe(false);
    expect(seen.count).toBe(0);
    expect(model.prompts).toBe(before);
  });

  it('a poll that finds a change applies it and reloads only stale previews', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    await model.refresh();
    await model.loadDetails('a/one.prompty');
    await model.loadDetails('b/two.prompty');
    client.promptList = [
      prompt('a/one.prompty', { version: '2' }),
      prompt('b/two.prompty'),
      prompt('c/new.prompty')
    ];
    client.calls = [];
    const seen = counted(model);
    expect(await model.poll()).toBe(true);
    expect(seen.count).toBeGreaterThan(0);
    expect(model.prompts.map(item => item.path)).toContain('c/new.prompty');
    expect(client.calls.filter(call => call.startsWith('prompt '))).toEqual([
      'prompt a/one.prompty'
    ]);
    expect(model.details('a/one.prompty')?.preview.messages[0].content).toBe('v2');
  });

  it('a failed refresh says why; a failed poll stays quiet', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    client.failWith = new Error('The Jupyter server did not answer GET prompts.');
    await model.refresh();
    expect(model.error).toBe('The Jupyter server did not answer GET prompts.');
    expect(await model.poll()).toBe(false);
  });

  it('a details error is kept per prompt', async () => {
    const model = new InvokerSidebarModel(new FakeClient());
    await model.loadDetails('gone.prompty');
    expect(model.detailsError('gone.prompty')).toContain("no prompt file 'gone.prompty'");
    expect(model.details('gone.prompty')).toBeNull();
  });

  it('select() writes the choice, shows it at once, then re-reads', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    await model.refresh();
    await model.select('a/one.prompty', { connection: 'work' });
    expect(client.calls).toContain('select a/one.prompty {"connection":"work"}');
    expect(model.prompts.find(p => p.path === 'a/one.prompty')?.selected).toEqual({
      connection: 'work'
    });
    await model.select('a/one.prompty', null);
    expect(client.calls).toContain('clear a/one.prompty');
  });

  describe('status()', () => {
    const model = new InvokerSidebarModel(new FakeClient());

    it('is ready when the server says it would run', () => {
      expect(model.status(prompt('x.prompty'))).toEqual({
        kind: 'ready',
        label: 'ready',
        detail: 'Runs on the local invoker.'
      });
    });

    it('names an unset key variable', () => {
      const status = model.status(
        prompt('x.prompty', {
          ready: false,
          needs: ['OPENAI_API_KEY'],
          runs_on: { invoker: 'openai', connection: null }
        })
      );
      expect(status.kind).toBe('unset');
      expect(status.label).toBe('key variable unset');
      expect(status.detail).toContain('the openai invoker needs OPENAI_API_KEY');
    });

    it('says when the invoker is registered nowhere', () => {
      const status = model.status(
        prompt('custom.prompty', {
          asks_for: 'custom',
          ready: false,
          needs: ['invoker:custom'],
          runs_on: { invoker: 'custom', connection: null }
        })
      );
      expect(status.kind).toBe('unset');
      expect(status.label).toBe('invoker not registered');
      expect(status.detail).toContain('No invoker named custom is registered');
    });

    it('shows a file error and a selection error', () => {
      expect(model.status(prompt('x.prompty', { error: 'x.prompty:3: malformed YAML' }))).toEqual({
        kind: 'error',
        label: 'file error',
        detail: 'x.prompty:3: malformed YAML'
      });
      const status = model.status(prompt('x.prompty', { status_error: 'gone' }));
      expect(status.label).toBe('selection error');
    });
  });

  it('runsOn() falls back to selection, then file, then local', async () => {
    const client = new FakeClient();
    client.connectionList = [
      { name: 'work', invoker: 'openai', configuration: {}, key_env: null, key_set: false }
    ];
    const model = new InvokerSidebarModel(client);
    await model.refresh();
    const bare = prompt('x.prompty', { runs_on: undefined, asks_for: null });
    expect(model.runsOn(bare)).toEqual({ invoker: 'local', connection: null });
    expect(model.runsOn({ ...bare, asks_for: 'azure' })).toEqual({
      invoker: 'azure',
      connection: null
    });
    expect(model.runsOn({ ...bare, selected: { connection: 'work' } })).toEqual({
      invoker: 'openai',
      connection: 'work'
    });
  });

  it('saves, renames and deletes connections through the client', async () => {
    const client = new FakeClient();
    const model = new InvokerSidebarModel(client);
    const request = { name: 'w2', invoker: 'openai', configuration: {} };
    await model.saveConnection(request);
    await model.saveConnection(request, 'w1');
    await model.deleteConnection('w2');
    expect(client.calls.filter(call => !/^(prompts|invokers|connections)$/.test(call))).toEqual([
      'create w2',
      'update w1 -> w2',
      'delete w2'
    ]);
  });
});
