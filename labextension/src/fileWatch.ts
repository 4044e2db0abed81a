/**
 * Keep the sidebar current with the files:
 * - `refreshOnFileChange`: at once when a `.prompty` file (or a folder that may
 *   hold one) changes through the contents API, i.e. from this browser;
 * - `VisiblePoll`: every few seconds while a panel is shown and the browser tab
 *   is visible, for changes made elsewhere (a terminal, a kernel, git). A poll
 *   re-renders nothing unless the server's answer changed.
 */
import { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { IInvokerSidebarModel } from './tokens';

const DELAY_MS = 300;
/** The least time between two polls; a slow answer (a huge tree) spaces them more. */
export const POLL_MS = 5000;
const POLL_SLOWDOWN = 20;

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

/** Polls `model` while started; one poll at a time, none while the tab is hidden. */
export class VisiblePoll implements IDisposable {
  constructor(model: IInvokerSidebarModel) {
    this._model = model;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  start(): void {
    this._wanted = true;
    if (this._timer === null && !this._polling && !this._disposed) {
      this._schedule(POLL_MS);
    }
  }

  stop(): void {
    this._wanted = false;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  dispose(): void {
    this.stop();
    this._disposed = true;
  }

  private _schedule(delay: number): void {
    this._timer = setTimeout(() => void this._tick(), delay);
  }

  private async _tick(): Promise<void> {
    this._timer = null;
    let took = 0;
    if (!document.hidden) {
      this._polling = true;
      const started = performance.now();
      try {
        await this._model.poll();
      } finally {
        this._polling = false;
      }
      took = performance.now() - started;
    }
    if (this._wanted && !this._disposed && this._timer === null) {
      this._schedule(Math.max(POLL_MS, POLL_SLOWDOWN * took));
    }
  }

  private _model: IInvokerSidebarModel;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _polling = false;
  private _wanted = false;
  private _disposed = false;
}
