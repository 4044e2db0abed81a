import { LabIcon } from '@jupyterlab/ui-components';

// A prompt sheet with a switch: currentColor-free, filled by JupyterLab's icon classes.
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M5 2h10l4 4v6h-2V7h-3V4H7v16h5v2H5z"/>
    <path d="M9 9h6v1.6H9zM9 12.4h4v1.6H9z"/>
    <path d="M14 16.5a3 3 0 0 1 3-3h2a3 3 0 0 1 0 6h-2a3 3 0 0 1-3-3zm5 1.6a1.6 1.6 0 1 0 0-3.2 1.6 1.6 0 0 0 0 3.2z"/>
  </g>
</svg>`;

export const invokerIcon = new LabIcon({ name: 'jupyter-invoker:sidebar', svgstr });
