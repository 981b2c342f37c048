/* modes.h - the modes other than training: summary, export, predict. */
#ifndef RD_TRAIN_MODES_H
#define RD_TRAIN_MODES_H

#include "train/run.h"

int mode_summary(Run *r);
int mode_export(Run *r);
int mode_predict(Run *r);

#endif
