// Package toe is the root of kiln's AWSTOE-compatible component runner.
//
// The runner is split into small packages:
//
//   - expr: the pure `{{ … }}` expression and condition engine;
//   - document: parsing and validating component documents (YAML or JSON);
//   - exec: the executor core (phases, steps, retries, timeouts, loops,
//     reboot-and-resume state) with an injected clock and action interface;
//   - action: the action modules (ExecuteBash, S3Download, CreateFile, …);
//   - cli: the `kiln toe run|validate` command line, run folder and logs.
//
// See docs/toe.md for usage and the decisions taken on inferred points.
package toe
