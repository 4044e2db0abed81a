/**
 * The figure renderer as a MIME renderer extension (package.json
 * `jupyterlab.mimeExtension`), loaded by JupyterLab 4 and Notebook 7 alike.
 *
 * Ranked 1, above plotly's own renderer (rank 2): in a bundle that holds both our
 * marker and plotly's figure, this renderer is the one that draws it. It is safe
 * (it draws JSON, runs no script), so untrusted notebooks use it too.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { MIME_TYPE, RenderedFigure } from './figureRenderer';

const RANK = 1;

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: RANK,
  createRenderer: options => new RenderedFigure(options)
};

const extension: IRenderMime.IExtension = {
  id: 'jupyter-invoker:figure',
  description: "Redraws the activation browser's plotly figure in place on every update.",
  rendererFactory,
  rank: RANK
};

export default extension;
