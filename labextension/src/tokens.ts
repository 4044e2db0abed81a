/**
 * Shapes of the server extension's JSON (the REST routes listed in
 * `jupyter_invoker/server/__init__.py`), the client and the model's interfaces.
 *
 * Field names follow the REST contract exactly (snake_case), so a response is
 * used as it arrives; nothing here holds a secret: a connection's key is only
 * ever the name of an environment variable (`${env:VAR}`) plus `key_set`.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** The sidebar's id in the shell (also the layout restorer's key). */
export const PANEL_ID = 'jupyter-invoker-sidebar';

/** The same panel as a tab of Notebook 7's file tree page. */
export const TREE_PANEL_ID = 'jupyter-invoker-tree';

export namespace CommandIDs {
  export const open = 'jupyter-invoker:open-sidebar';
  export const refresh = 'jupyter-invoker:refresh';
}

/** A prompt's selection: an invoker or a named connection. */
export interface ISelection {
  invoker?: string | null;
  connection?: string | null;
}

/** One `.prompty` under the server root, as `GET /prompts` lists it. */
export interface IPromptSummary {
  path: string;
  folder?: string;
  name: string;
  description: string | null;
  api: string | null;
  /** The invoker the file itself names (`model.configuration.type`). */
  asks_for: string | null;
  selected: ISelection | null;
  inputs: Record<string, unknown> | null;
  /** The file's load error, or null. */
  error: string | null;
  /** What would run it now: selection, else the file's invoker (with its default connection). */
  runs_on?: ISelection | null;
  ready?: boolean;
  /** What that lacks: a variable's NAME, `configuration.<field>`, `package:<module>`,
   * or `invoker:<name>` when no invoker of that name is registered anywhere. */
  needs?: string[];
  /** A selection that cannot apply (a deleted connection), or null. */
  status_error?: string | null;
  /** Changes whenever the file does (null: unreadable); an open preview reloads on it. */
  version?: string | null;
}

/** One rendered message of a preview. */
export interface IMessage {
  role: string;
  content: string;
}

/** A preview rendered from the prompt's `sample`, or why it could not be. */
export interface IPreview {
  messages: IMessage[];
  /** A completion prompt's rendered text. */
  text: string | null;
  error: string | null;
}

/** One prompt with its configuration (secrets as `${env:VAR}`) and preview. */
export interface IPromptDetails extends IPromptSummary {
  configuration: Record<string, unknown> | null;
  preview: IPreview;
}

/** A registered invoker and whether it has what it needs. */
export interface IInvokerInfo {
  name: string;
  kind: string;
  ready: boolean;
  /** What is missing, e.g. the unset variable's name; empty when ready. */
  needs: string[];
  aliases?: string[];
  default_connection?: string | null;
}

/** A named connection as the server answers it (never a key's value). */
export interface IConnection {
  name: string;
  invoker: string;
  /** As stored: the key only as `${env:VAR}`. */
  configuration: Record<string, unknown>;
  /** The key's environment variable NAME, or null. */
  key_env?: string | null;
  /** Whether that variable is set where the server runs. */
  key_set?: boolean;
  ready?: boolean;
  needs?: string[];
  /** Whether it is its invoker's default connection. */
  default?: boolean;
}

/** The body of `POST /connections` and `PUT /connections/<name>`. */
export interface IConnectionRequest {
  name: string;
  invoker: string;
  configuration: Record<string, unknown>;
  /** Shorthand for the invoker's key field = `${env:<key_env>}`. */
  key_env?: string;
  default?: boolean;
}

/** The result of `POST /connections/<name>/test`. */
export interface ITestResult {
  ok: boolean;
  invoker?: string;
  connection?: string;
  model?: string | null;
  elapsed_s?: number;
  /** The model's (short) answer. */
  text?: string;
  error?: string;
}

/** What a prompt's row shows as its status. */
export interface IPromptStatus {
  kind: 'ready' | 'unset' | 'error';
  label: string;
  detail: string;
}

/** The server extension's routes (`request.ts` implements it; tests pass a fake). */
export interface IInvokerClient {
  prompts(): Promise<IPromptSummary[]>;
  prompt(path: string): Promise<IPromptDetails>;
  invokers(): Promise<IInvokerInfo[]>;
  setSelection(path: string, selection: ISelection): Promise<void>;
  clearSelection(path: string): Promise<void>;
  connections(): Promise<IConnection[]>;
  createConnection(connection: IConnectionRequest): Promise<void>;
  updateConnection(name: string, connection: IConnectionRequest): Promise<void>;
  deleteConnection(name: string): Promise<void>;
  testConnection(name: string): Promise<ITestResult>;
}

/** State shared by the sidebar's views; no DOM. */
export interface IInvokerSidebarModel {
  readonly prompts: readonly IPromptSummary[];
  readonly invokers: readonly IInvokerInfo[];
  readonly connections: readonly IConnection[];
  /** A message for the whole panel (the server unreachable...), or null. */
  readonly error: string | null;
  readonly loading: boolean;
  /** Emitted after any change of the state above or of a prompt's details. */
  readonly changed: ISignal<IInvokerSidebarModel, void>;
  refresh(): Promise<void>;
  /** Re-read quietly: the state changes (and `changed` is emitted) only when the
   * server's answer differs, e.g. a prompt written from a terminal. True if it did. */
  poll(): Promise<boolean>;
  details(path: string): IPromptDetails | null;
  /** Why a prompt's details could not be loaded, or null. */
  detailsError(path: string): string | null;
  loadDetails(path: string): Promise<void>;
  select(path: string, selection: ISelection | null): Promise<void>;
  /** What runs a prompt now: the server's `runs_on`, else selection > file > local. */
  runsOn(prompt: IPromptSummary): ISelection;
  connection(name: string): IConnection | null;
  status(prompt: IPromptSummary): IPromptStatus;
  saveConnection(connection: IConnectionRequest, previousName?: string): Promise<void>;
  deleteConnection(name: string): Promise<void>;
  testConnection(name: string): Promise<ITestResult>;
}

export const IInvokerSidebarModel = new Token<IInvokerSidebarModel>(
  'jupyter-invoker:IInvokerSidebarModel',
  'The prompts, invokers and connections shown in the jupyter_invoker sidebar.'
);
