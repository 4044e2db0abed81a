/**
 * A connection form's four fields <-> an invoker's configuration keys.
 *
 * The form asks for an endpoint, a model (or Azure deployment), an API version
 * and the NAME of the environment variable holding the key; each invoker spells
 * those differently in its `configuration` (the same keys a `.prompty` uses).
 * The key is only ever written as `${env:NAME}`.
 */
import { IConnection, IConnectionRequest } from './tokens';

export interface IConnectionForm {
  name: string;
  invoker: string;
  endpoint: string;
  model: string;
  apiVersion: string;
  keyVariable: string;
  /** Make it the default connection of its invoker. */
  isDefault: boolean;
}

interface IKeys {
  endpoint: string;
  model: string;
  apiVersion: string | null;
}

const KEYS: Record<string, IKeys> = {
  openai: { endpoint: 'base_url', model: 'name', apiVersion: null },
  azure: {
    endpoint: 'azure_endpoint',
    model: 'azure_deployment',
    apiVersion: 'api_version'
  },
  serverless: { endpoint: 'endpoint', model: 'model', apiVersion: null }
};
const OTHER: IKeys = {
  endpoint: 'endpoint',
  model: 'model',
  apiVersion: 'api_version'
};

const ENDPOINT_KEYS = ['base_url', 'azure_endpoint', 'endpoint'];
const MODEL_KEYS = ['azure_deployment', 'name', 'model', 'deployment'];
const KEY_KEYS = ['api_key', 'key', 'token'];
const ENV_REF = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\}$/;

/** A valid environment variable name (what the key field accepts). */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Invoker kinds the connection form offers before any registry answers. */
export const CONNECTION_KINDS = ['openai', 'azure', 'serverless'];

/** Whether the form shows the API version field for this invoker. */
export function usesApiVersion(invoker: string): boolean {
  return (KEYS[invoker] ?? OTHER).apiVersion !== null;
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function first(config: Record<string, unknown>, keys: string[]): string {
  for (const key of keys) {
    if (text(config[key])) {
      return text(config[key]);
    }
  }
  return '';
}

/** The variable a configuration's key refers to (`${env:VAR}` -> `VAR`), or ''. */
export function keyVariable(config: Record<string, unknown> | null): string {
  if (!config) {
    return '';
  }
  for (const key of KEY_KEYS) {
    const match = ENV_REF.exec(text(config[key]));
    if (match) {
      return match[1];
    }
  }
  return '';
}

/** Fill the form from a stored connection. */
export function formOf(connection: IConnection): IConnectionForm {
  const config = connection.configuration ?? {};
  return {
    name: connection.name,
    invoker: connection.invoker,
    endpoint: first(config, ENDPOINT_KEYS),
    model: first(config, MODEL_KEYS),
    apiVersion: text(config.api_version),
    keyVariable: connection.key_env || keyVariable(config),
    isDefault: Boolean(connection.default)
  };
}

/** The request body the server stores; empty fields are left out, the key goes as
 * `key_env` (the server writes it as `${env:NAME}` under the invoker's key field). */
export function connectionOf(form: IConnectionForm): IConnectionRequest {
  const keys = KEYS[form.invoker] ?? OTHER;
  const configuration: Record<string, unknown> = {};
  if (form.endpoint.trim()) {
    configuration[keys.endpoint] = form.endpoint.trim();
  }
  if (form.model.trim()) {
    configuration[keys.model] = form.model.trim();
  }
  if (keys.apiVersion && form.apiVersion.trim()) {
    configuration[keys.apiVersion] = form.apiVersion.trim();
  }
  const request: IConnectionRequest = {
    name: form.name.trim(),
    invoker: form.invoker,
    configuration,
    default: form.isDefault
  };
  if (form.keyVariable.trim()) {
    request.key_env = form.keyVariable.trim();
  }
  return request;
}
