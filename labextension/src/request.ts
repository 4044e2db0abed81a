/**
 * The single HTTP entry point to the server extension (`/jupyter-invoker/...`).
 *
 * Every request goes through `requestAPI`, which adds the server's base URL,
 * token and XSRF header (ServerConnection) and turns failures into two typed
 * errors (`errors.ts`): `InvokerNetworkError` (the server could not be reached) and
 * `InvokerResponseError` (it answered with an error status; `message` is the
 * server's own sentence). `InvokerClient` implements the model's `IInvokerClient`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { errorText, InvokerNetworkError, InvokerResponseError } from './errors';
import {
  IConnection,
  IConnectionRequest,
  IInvokerClient,
  IInvokerInfo,
  IMessage,
  IPreview,
  IPromptDetails,
  IPromptSummary,
  ISelection,
  ITestResult
} from './tokens';

export { InvokerNetworkError, InvokerResponseError } from './errors';

const NAMESPACE = 'jupyter-invoker';

/** `a/b c.prompty` -> `a/b%20c.prompty`: each segment encoded, slashes kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function messageOf(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    for (const field of ['message', 'error', 'reason']) {
      const value = record[field];
      if (typeof value === 'string' && value) {
        return value;
      }
    }
  }
  return typeof body === 'string' && body ? body : fallback;
}

/** Call `/jupyter-invoker/<endPoint>` and return its JSON body. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  if (init.body !== undefined) {
    init = {
      ...init,
      headers: { 'Content-Type': 'application/json', ...init.headers }
    };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new InvokerNetworkError(
      `The Jupyter server did not answer ${init.method ?? 'GET'} ${url} (${errorText(error)}); check that it is running.`
    );
  }
  const text = await response.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    throw new InvokerResponseError(
      response.status,
      messageOf(body, `${response.status} ${response.statusText}`)
    );
  }
  return body as T;
}

/** A list answered either bare or wrapped as `{<field>: [...]}`. */
function listOf<T>(body: unknown, field: string): T[] {
  if (Array.isArray(body)) {
    return body as T[];
  }
  if (body && typeof body === 'object') {
    const inner = (body as Record<string, unknown>)[field];
    if (Array.isArray(inner)) {
      return inner as T[];
    }
  }
  return [];
}

function previewOf(raw: unknown): IPreview {
  const record = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return {
    messages: Array.isArray(record.messages) ? (record.messages as IMessage[]) : [],
    text: typeof record.text === 'string' ? record.text : null,
    error: typeof record.error === 'string' ? record.error : null
  };
}

/** The server extension's routes, typed. */
export class InvokerClient implements IInvokerClient {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  private call<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
    return requestAPI<T>(endPoint, init, this.settings);
  }

  async prompts(): Promise<IPromptSummary[]> {
    return listOf<IPromptSummary>(await this.call('prompts'), 'prompts');
  }

  async prompt(path: string): Promise<IPromptDetails> {
    const body = await this.call<Record<string, unknown>>(`prompts/${encodePath(path)}`);
    const details = body as unknown as IPromptDetails;
    return {
      ...details,
      preview: previewOf(body.preview)
    };
  }

  async invokers(): Promise<IInvokerInfo[]> {
    return listOf<IInvokerInfo>(await this.call('invokers'), 'invokers');
  }

  async setSelection(path: string, selection: ISelection): Promise<void> {
    await this.call(`selections/${encodePath(path)}`, {
      method: 'PUT',
      body: JSON.stringify(selection)
    });
  }

  async clearSelection(path: string): Promise<void> {
    await this.call(`selections/${encodePath(path)}`, { method: 'DELETE' });
  }

  async connections(): Promise<IConnection[]> {
    return listOf<IConnection>(await this.call('connections'), 'connections');
  }

  async createConnection(connection: IConnectionRequest): Promise<void> {
    await this.call('connections', {
      method: 'POST',
      body: JSON.stringify(connection)
    });
  }

  async updateConnection(name: string, connection: IConnectionRequest): Promise<void> {
    await this.call(`connections/${encodeURIComponent(name)}`, {
      method: 'PUT',
      body: JSON.stringify(connection)
    });
  }

  async deleteConnection(name: string): Promise<void> {
    await this.call(`connections/${encodeURIComponent(name)}`, {
      method: 'DELETE'
    });
  }

  async testConnection(name: string): Promise<ITestResult> {
    return this.call<ITestResult>(`connections/${encodeURIComponent(name)}/test`, {
      method: 'POST',
      body: '{}'
    });
  }
}
