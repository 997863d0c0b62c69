/** The sale-day harness (bench/sale-day/README.md): start the platform, drive code requests, track the SMS. */
export * from './bench-stack';
export * from './driver';
export * from './mix';
export * from './numbers';
export * from './phase';
export * from './proc';
export * from './stats';
export * from './tracker';
export * from './args';
export * from './smpp-floor';
export * from './scenario';
export * from './floor';
