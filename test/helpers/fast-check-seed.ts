/**
 * Imported for its effect by every file with property tests: one fixed seed, so a CI run is repeatable; set
 * `FC_SEED` to explore other inputs (fast-check prints the seed of any failure, and `FC_SEED` replays it).
 */
import fc from 'fast-check';

const seed = Number(process.env['FC_SEED'] ?? 20_261_123);
fc.configureGlobal({ seed });
