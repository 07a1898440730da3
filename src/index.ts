/**
 * The `smac` package. The pure core is exported today; the agent, the client SDK and the
 * services are added by later issues.
 */
export * from './core/index.js';
