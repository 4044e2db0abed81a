/**
 * The connection form's fields <-> each invoker's configuration keys.
 */
import {
  VARIABLE_NAME,
  connectionOf,
  formOf,
  keyVariable,
  usesApiVersion
} from '../connectionFields';

const EMPTY = {
  name: ' work ',
  invoker: 'openai',
  endpoint: '',
  model: '',
  apiVersion: '',
  keyVariable: '',
  isDefault: false
};

describe('connectionOf()', () => {
  it('spells the fields as each invoker does and leaves empty ones out', () => {
    expect(connectionOf({ ...EMPTY, endpoint: ' https://e/v1 ', model: 'gpt' })).toEqual({
      name: 'work',
      invoker: 'openai',
      configuration: { base_url: 'https://e/v1', name: 'gpt' },
      default: false
    });
    expect(
      connectionOf({
        ...EMPTY,
        invoker: 'azure',
        endpoint: 'https://r.openai.azure.com',
        model: 'dep',
        apiVersion: '2024-10-21'
      }).configuration
    ).toEqual({
      azure_endpoint: 'https://r.openai.azure.com',
      azure_deployment: 'dep',
      api_version: '2024-10-21'
    });
    expect(
      connectionOf({ ...EMPTY, invoker: 'serverless', endpoint: 'http://h/v1', model: 'm' })
        .configuration
    ).toEqual({ endpoint: 'http://h/v1', model: 'm' });
    expect(connectionOf({ ...EMPTY, invoker: 'custom', model: 'm' }).configuration).toEqual({
      model: 'm'
    });
  });

  it('sends the key only as a variable name, never a value', () => {
    const request = connectionOf({ ...EMPTY, keyVariable: ' OPENAI_API_KEY ', isDefault: true });
    expect(request.key_env).toBe('OPENAI_API_KEY');
    expect(request.default).toBe(true);
    expect(JSON.stringify(request.configuration)).not.toContain('OPENAI_API_KEY');
    expect(connectionOf(EMPTY).key_env).toBeUndefined();
  });

  it('drops an API version the invoker has no field for', () => {
    expect(connectionOf({ ...EMPTY, apiVersion: '2024-10-21' }).configuration).toEqual({});
  });
});

describe('formOf()', () => {
  it('reads a stored connection back into the form', () => {
    expect(
      formOf({
        name: 'az',
        invoker: 'azure',
        configuration: {
          azure_endpoint: 'https://r',
          azure_deployment: 'dep',
          api_version: '2024-10-21',
          api_key: '${env:AZ_KEY}'
        },
        default: true
      })
    ).toEqual({
      name: 'az',
      invoker: 'azure',
      endpoint: 'https://r',
      model: 'dep',
      apiVersion: '2024-10-21',
      keyVariable: 'AZ_KEY',
      isDefault: true
    });
  });

  it('round-trips through connectionOf', () => {
    const form = { ...EMPTY, name: 'w', endpoint: 'https://e', model: 'm', keyVariable: 'K' };
    const request = connectionOf(form);
    const stored = {
      name: request.name,
      invoker: request.invoker,
      configuration: { ...request.configuration, api_key: `\${env:${request.key_env}}` }
    };
    expect(formOf(stored)).toEqual({ ...form, name: 'w' });
  });
});

describe('keyVariable()', () => {
  it('finds the variable of a key reference, with or without a default', () => {
    expect(keyVariable({ api_key: '${env:OPENAI_API_KEY}' })).toBe('OPENAI_API_KEY');
    expect(keyVariable({ key: '${env:SERVE_KEY:x}' })).toBe('SERVE_KEY');
    expect(keyVariable({ api_key: '***' })).toBe('');
    expect(keyVariable(null)).toBe('');
  });
});

describe('the form rules', () => {
  it('shows the API version field where the invoker has one', () => {
    expect(usesApiVersion('azure')).toBe(true);
    expect(usesApiVersion('openai')).toBe(false);
    expect(usesApiVersion('serverless')).toBe(false);
    expect(usesApiVersion('custom')).toBe(true);
  });

  it('accepts a variable name, not a pasted key', () => {
    expect(VARIABLE_NAME.test('OPENAI_API_KEY')).toBe(true);
    expect(VARIABLE_NAME.test('sk-proj-abc123')).toBe(false);
    expect(VARIABLE_NAME.test('1BAD')).toBe(false);
  });
});
