// The correctly spelled name; the original design's scripts and docs use createEnrichement.ts.
import { run } from './createEnrichement';

run();
