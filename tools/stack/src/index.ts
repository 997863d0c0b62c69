export * from './ports';
export * from './stack';
export * from './runtime';
