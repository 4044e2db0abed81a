/**
 * Keep the sidebar current with the files:
 * - `refreshOnFileChange`: at once (debounced) when a `.prompty` file, or a folder
 *   that may hold one, changes through the contents API, i.e. from this browser;
 * - `followFiles`: a `Poll` every few seconds while a panel is shown and the
 *   browser tab is visible, for changes made elsewhere (a terminal, a kernel, git).
 *   A poll re-renders nothing unless the server's answer changed; a slow answer (a
 *   huge tree) spaces the polls out; a hidden tab or panel asks nothing.
 */
import { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Debouncer, Poll } from '@lumino/polling';

import { IInvokerSidebarModel } from './tokens';

const DELAY_MS = 300;
/** The least time between two polls; a slow answer (a huge tree) spaces them more. */
export const POLL_MS = 5000;
const POLL_SLOWDOWN = 20;
const POLL_MAX_MS = 5 * 60 * 1000;

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
  const debouncer = new Debouncer(() => model.refresh(), DELAY_MS);
  const onChange = (_: Contents.IManager, change: Contents.IChangedArgs): void => {
    if (concerns(change)) {
      void debouncer.invoke();
    }
  };
  contents.fileChanged.connect(onChange);
  return {
    get isDisposed() {
      return debouncer.isDisposed;
    },
    dispose() {
      if (!debouncer.isDisposed) {
        contents.fileChanged.disconnect(onChange);
        debouncer.dispose();
      }
    }
  };
}

/**
 * A poll of `model` that the panel starts when shown and stops when hidden; it
 * stands by while the browser tab is hidden (`standby: 'when-hidden'`, no
 * lingering tick). Started, it first waits a full interval: showing the panel
 * refreshes it already.
 */
export function followFiles(model: IInvokerSidebarModel, name: string): Poll {
  const poll: Poll = new Poll({
    auto: false,
    name,
    frequency: { interval: POLL_MS, backoff: false, max: POLL_MAX_MS },
    standby: 'when-hidden',
    linger: 0,
    factory: async state => {
      if (state.phase === 'started') {
        return; // the panel's own refresh on show answers for now
      }
      const started = performance.now();
      await model.poll();
      const took = performance.now() - started;
      const interval = Math.min(POLL_MAX_MS, Math.max(POLL_MS, POLL_SLOWDOWN * took));
      poll.frequency = { interval, backoff: false, max: POLL_MAX_MS };
    }
  });
  return poll;
}
