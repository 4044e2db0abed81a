/**
 * Refresh the model when a `.prompty` file (or a folder that may hold one)
 * changes through the contents API: saved, created, renamed or deleted from
 * this browser. Changes made elsewhere show on the refresh button or the next
 * time the panel is shown.
 */
import { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { IInvokerSidebarModel } from './tokens';

const DELAY_MS = 300;

function concerns(change: Contents.IChangedArgs): boolean {
  const paths = [change.oldValue?.path, change.newValue?.path];
  const anyPrompt = paths.some(path => typeof path === 'string' && path.endsWith('.prompty'));
  // A renamed or deleted folder may carry prompts with it.
  return anyPrompt || change.type === 'rename' || change.type === 'delete';
}

export function refreshOnFileChange(
  contents: Contents.IManager,
  model: IInvokerSidebarModel
): IDisposable {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;
  const onChange = (_: Contents.IManager, change: Contents.IChangedArgs): void => {
    if (!concerns(change)) {
      return;
    }
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      timer = null;
      void model.refresh();
    }, DELAY_MS);
  };
  contents.fileChanged.connect(onChange);
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        if (timer !== null) {
          clearTimeout(timer);
        }
        contents.fileChanged.disconnect(onChange);
      }
    }
  };
}
