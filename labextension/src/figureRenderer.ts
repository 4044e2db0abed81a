/**
 * The activation browser's figure, redrawn in place on every update.
 *
 *   // a display bundle from jupyter_invoker.show(...):
 *   // { 'application/vnd.jupyter-invoker.plotly+json': { source: PLOTLY_MIME },
 *   //   'application/vnd.plotly.v1+json': { data, layout }, 'text/plain': '...' }
 *
 * JupyterLab's output area keeps an output's renderer when an `update_display_data`
 * message leaves its preferred MIME type unchanged and calls `renderModel` again on
 * it. Plotly's own renderer returns at once when its node already holds a plot, so
 * the browser's controls would change the kernel's figure and never the screen. This
 * renderer (ranked above plotly's, for a MIME type of our own that the kernel adds to
 * the bundle) draws the bundle's plain plotly figure with `Plotly.react` every time:
 * the plot updates in place, without a flicker, keeping the user's zoom while the
 * figure's `uirevision` stays the same. Front ends without this extension (VS Code,
 * nbviewer, a JupyterLab without it) ignore the marker and render the plain figure.
 *
 * plotly.js is bundled with the extension and loaded on the first figure, from the
 * Jupyter server itself: nothing is fetched from elsewhere.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import type * as PlotlyTypes from 'plotly.js-dist-min';

/** The marker type the kernel adds next to plotly's in the figure's bundle. */
export const MIME_TYPE = 'application/vnd.jupyter-invoker.plotly+json';

/** Plotly's own MIME type: the figure itself (data, layout, config, frames). */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

type Plotly = (typeof PlotlyTypes)['default'];

interface IFigure {
  data?: PlotlyTypes.Data[];
  layout?: Partial<PlotlyTypes.Layout>;
  config?: Partial<PlotlyTypes.Config>;
}

let loading: Promise<Plotly> | null = null;

/** plotly.js, loaded once per page (a separate chunk of this extension). */
function loadPlotly(): Promise<Plotly> {
  if (!loading) {
    // A CommonJS bundle: webpack hands it over as the namespace's default export.
    loading = import('plotly.js-dist-min').then(module => module.default);
  }
  return loading;
}

/** Which bundle entry holds the figure: plotly's, unless the marker names another. */
function figureOf(model: IRenderMime.IMimeModel): IFigure | null {
  const marker = model.data[MIME_TYPE] as { source?: unknown } | undefined;
  const source = typeof marker?.source === 'string' ? marker.source : PLOTLY_MIME;
  const figure = model.data[source];
  return figure && typeof figure === 'object' ? (figure as IFigure) : null;
}

/** One figure output: redrawn with `Plotly.react` on every `renderModel`. */
export class RenderedFigure extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-InvokerFigure');
  }

  /**
   * Draw the model's figure. Updates that arrive while one is being drawn are not
   * queued one by one: only the latest is drawn next.
   */
  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._next = model;
    if (!this._drawing) {
      this._drawing = this._drain().finally(() => {
        this._drawing = null;
      });
    }
    return this._drawing;
  }

  private async _drain(): Promise<void> {
    while (this._next) {
      const model = this._next;
      this._next = null;
      await this._draw(model);
    }
  }

  private async _draw(model: IRenderMime.IMimeModel): Promise<void> {
    const figure = figureOf(model);
    if (!figure) {
      this.node.textContent = `No plotly figure in this ${this._mimeType} output.`;
      return;
    }
    const Plotly = await loadPlotly();
    if (this.isDisposed) {
      return;
    }
    if (!this._plotly) {
      this.node.textContent = '';
    }
    // Plotly writes into the objects it is given (computed ranges, private keys):
    // a copy keeps the output model, and so the saved notebook, as the kernel sent it.
    const copy = JSON.parse(JSON.stringify(figure)) as IFigure;
    await Plotly.react(this.node, copy.data ?? [], copy.layout ?? {}, {
      displaylogo: false,
      responsive: true,
      ...copy.config
    });
    this._plotly = Plotly; // set once drawn: a figure is on the node from here on
  }

  protected onAfterShow(msg: Message): void {
    this._resize();
  }

  protected onAfterAttach(msg: Message): void {
    this._resize();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    this._resize();
  }

  private _resize(): void {
    if (this._plotly && this.isVisible) {
      this._plotly.Plots.resize(this.node);
    }
  }

  dispose(): void {
    if (this._plotly) {
      this._plotly.purge(this.node);
    }
    super.dispose();
  }

  private _mimeType: string;
  private _next: IRenderMime.IMimeModel | null = null;
  private _drawing: Promise<void> | null = null;
  private _plotly: Plotly | null = null; // set once the first figure is drawn
}
