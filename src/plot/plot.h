/* plot.h - `resnet_dist plot RUN_DIR`: curves of a run, as pictures.
 *
 * Reads RUN_DIR/metrics.jsonl (schema: docs/METRICS.md) and writes, into
 * RUN_DIR/plots/, loss.{svg,png} (training loss per logged window, training
 * and validation loss per epoch), accuracy.{svg,png} (training top-1/top-5 per
 * window, validation top-1/top-5 per epoch, in %), lr.{svg,png} (learning
 * rate) and throughput.{svg,png} (images/s over all ranks), all against
 * epochs.  No Python, no gnuplot: our own SVG writer and rasteriser + PNG
 * encoder (zlib), so the plots come out wherever the program runs.
 */
#ifndef RD_PLOT_PLOT_H
#define RD_PLOT_PLOT_H

/* Returns the exit status: 0, or 2 with one line on stderr when RUN_DIR has
 * no readable metrics.jsonl or the plots cannot be written there. */
int plot_run_dir(const char *run_dir);

#endif
