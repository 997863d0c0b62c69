import type { LocaleCatalogue, SupportedLocale } from '../template.types';
import { de } from './de';
import { en } from './en';
import { es } from './es';
import { hi } from './hi';
import { ja } from './ja';

export const CATALOGUES: Readonly<Record<SupportedLocale, LocaleCatalogue>> = {
  en,
  es,
  de,
  hi,
  ja,
};
