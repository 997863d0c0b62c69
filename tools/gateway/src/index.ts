export * from './gateway';
export * from './routes';
