// The seed's spelling, kept for the public design's users: an alias that runs src/scripts/createEnrichment.ts.
import { run } from './createEnrichment';

run();
