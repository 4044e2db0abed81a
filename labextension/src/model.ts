/**
 * The sidebar's state: prompts, invokers, connections and prompt details,
 * fetched through an `IInvokerClient` (`request.ts` in the page, a fake in the unit
 * tests) and announced with one `changed` signal.
 * No DOM here; the views render from this and call its methods.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { VARIABLE_NAME } from './connectionFields';
import { errorText } from './errors';
import {
  IConnection,
  IConnectionRequest,
  IInvokerClient,
  IInvokerInfo,
  IInvokerSidebarModel,
  IPromptDetails,
  IPromptStatus,
  IPromptSummary,
  ISelection,
  ITestResult
} from './tokens';

/** The invoker a prompt runs when neither it nor a selection names one. */
export const DEFAULT_INVOKER = 'local';

/** A `needs` entry for an invoker that is registered nowhere. */
const UNREGISTERED = 'invoker:';

/** One answer of the three list routes: prompts, invokers, connections. */
type Answer = [IPromptSummary[], IInvokerInfo[], IConnection[]];

/** One string for a whole answer, prompts in path order. */
function fingerprint([prompts, invokers, connections]: Answer): string {
  const sorted = [...prompts].sort((a, b) => a.path.localeCompare(b.path));
  return JSON.stringify([sorted, invokers, connections]);
}

export class InvokerSidebarModel implements IInvokerSidebarModel {
  constructor(client: IInvokerClient) {
    this._client = client;
  }

  get prompts(): readonly IPromptSummary[] {
    return this._prompts;
  }
  get invokers(): readonly IInvokerInfo[] {
    return this._invokers;
  }
  get connections(): readonly IConnection[] {
    return this._connections;
  }
  get error(): string | null {
    return this._error;
  }
  get loading(): boolean {
    return this._loading;
  }
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Re-read everything. A call while a round is in flight queues one more round
   * (its answers may predate the caller's change); further calls share that one. */
  refresh(): Promise<void> {
    if (this._pending) {
      if (!this._queued) {
        this._queued = this._pending.then(() => {
          this._queued = null;
          return this.refresh();
        });
      }
      return this._queued;
    }
    this._pending = this._refresh().finally(() => {
      this._pending = null;
    });
    return this._pending;
  }

  async poll(): Promise<boolean> {
    if (this._pending) {
      return false; // a refresh is under way: its answer is at least as new
    }
    let answer: Answer;
    try {
      answer = await Promise.all([
        this._client.prompts(),
        this._client.invokers(),
        this._client.connections()
      ]);
    } catch {
      return false; // quiet: an explicit refresh shows the error
    }
    if (this._pending || fingerprint(answer) === this._fingerprint) {
      return false;
    }
    // Only the open previews whose file changed (or went) are fetched again.
    const before = new Map(this._prompts.map(item => [item.path, item.version]));
    const now = new Map(answer[0].map(item => [item.path, item.version]));
    const changed = this._loaded().filter(path => now.get(path) !== before.get(path));
    this._apply(answer, changed);
    await Promise.all(changed.filter(path => now.has(path)).map(path => this.loadDetails(path)));
    this._changed.emit();
    return true;
  }

  details(path: string): IPromptDetails | null {
    return this._details.get(path) ?? null;
  }

  async loadDetails(path: string): Promise<void> {
    try {
      this._details.set(path, await this._client.prompt(path));
      this._detailErrors.delete(path);
    } catch (error) {
      this._detailErrors.set(path, errorText(error));
    }
    this._changed.emit();
  }

  /** Why a prompt's details could not be loaded, or null. */
  detailsError(path: string): string | null {
    return this._detailErrors.get(path) ?? null;
  }

  /** Write a prompt's selection at once (null: back to the file's own). */
  async select(path: string, selection: ISelection | null): Promise<void> {
    if (selection) {
      await this._client.setSelection(path, selection);
    } else {
      await this._client.clearSelection(path);
    }
    // Show the choice at once; the server then says what runs now and what it lacks.
    this._prompts = this._prompts.map(item =>
      item.path === path
        ? { ...item, selected: selection, runs_on: undefined, ready: undefined, needs: undefined }
        : item
    );
    this._changed.emit();
    await this.refresh();
  }

  /** What runs a prompt now (the server's `runs_on`; else selection > file > local). */
  runsOn(prompt: IPromptSummary): ISelection {
    if (prompt.runs_on) {
      return prompt.runs_on;
    }
    const selected = prompt.selected;
    if (selected?.connection) {
      return {
        invoker: this.connection(selected.connection)?.invoker,
        connection: selected.connection
      };
    }
    return { invoker: selected?.invoker || prompt.asks_for || DEFAULT_INVOKER, connection: null };
  }

  connection(name: string): IConnection | null {
    return this._connections.find(item => item.name === name) ?? null;
  }

  /** ready / key variable unset (or another need) / file error, from the server's answer. */
  status(prompt: IPromptSummary): IPromptStatus {
    if (prompt.error) {
      return { kind: 'error', label: 'file error', detail: prompt.error };
    }
    if (prompt.status_error) {
      return { kind: 'error', label: 'selection error', detail: prompt.status_error };
    }
    const runs = this.runsOn(prompt);
    const where = runs.connection
      ? `connection ${runs.connection} (${runs.invoker ?? '?'})`
      : `the ${runs.invoker ?? DEFAULT_INVOKER} invoker`;
    if (prompt.ready === false) {
      const needs = prompt.needs ?? [];
      const missing = needs.find(need => need.startsWith(UNREGISTERED));
      if (missing) {
        const name = missing.slice(UNREGISTERED.length);
        return {
          kind: 'unset',
          label: 'invoker not registered',
          detail: `No invoker named ${name} is registered (built in, by a package, or in a running kernel), so running it would fail. Register it in a kernel with InvokerFactory.register('${name}', ...) or choose another invoker.`
        };
      }
      const variables = needs.filter(need => VARIABLE_NAME.test(need));
      return {
        kind: 'unset',
        label: variables.length ? 'key variable unset' : 'not ready',
        detail: needs.length
          ? `${where} needs ${needs.join(', ')}${variables.length ? ' (set the variable where the server and kernels run)' : ''}.`
          : `${where} is not ready.`
      };
    }
    return { kind: 'ready', label: 'ready', detail: `Runs on ${where}.` };
  }

  async saveConnection(connection: IConnectionRequest, previousName?: string): Promise<void> {
    if (previousName) {
      await this._client.updateConnection(previousName, connection);
    } else {
      await this._client.createConnection(connection);
    }
    await this.refresh();
  }

  async deleteConnection(name: string): Promise<void> {
    await this._client.deleteConnection(name);
    await this.refresh();
  }

  testConnection(name: string): Promise<ITestResult> {
    return this._client.testConnection(name);
  }

  private async _refresh(): Promise<void> {
    this._loading = true;
    this._changed.emit();
    try {
      // The list paints as soon as the prompts arrive; the selectors fill in after.
      const early = this._client.prompts().then(prompts => {
        this._prompts = [...prompts].sort((a, b) => a.path.localeCompare(b.path));
        this._changed.emit();
        return prompts;
      });
      const answer = await Promise.all([
        early,
        this._client.invokers(),
        this._client.connections()
      ]);
      const paths = new Set(answer[0].map(item => item.path));
      const open = this._loaded();
      this._apply(answer, open);
      await Promise.all(open.filter(path => paths.has(path)).map(path => this.loadDetails(path)));
    } catch (error) {
      this._error = errorText(error);
    } finally {
      this._loading = false;
      this._changed.emit();
    }
  }

  /** The paths whose details were fetched (or failed to be). */
  private _loaded(): string[] {
    return [...new Set([...this._details.keys(), ...this._detailErrors.keys()])];
  }

  /** Take a whole answer of the three list routes; `stale`: details to drop. */
  private _apply([prompts, invokers, connections]: Answer, stale: string[]): void {
    this._prompts = [...prompts].sort((a, b) => a.path.localeCompare(b.path));
    this._invokers = invokers;
    this._connections = connections;
    this._fingerprint = fingerprint([prompts, invokers, connections]);
    this._error = null;
    for (const path of stale) {
      this._details.delete(path);
      this._detailErrors.delete(path);
    }
  }

  private _client: IInvokerClient;
  private _prompts: IPromptSummary[] = [];
  private _invokers: IInvokerInfo[] = [];
  private _connections: IConnection[] = [];
  private _details = new Map<string, IPromptDetails>();
  private _detailErrors = new Map<string, string>();
  private _error: string | null = null;
  private _loading = false;
  private _fingerprint = '';
  private _pending: Promise<void> | null = null;
  private _queued: Promise<void> | null = null;
  private _changed = new Signal<this, void>(this);
}
