/* A Hugging Face model directory: config.json and safetensors weights, one file
 * (model.safetensors) or shards listed in model.safetensors.index.json. */
#ifndef FR_HF_DIR_H
#define FR_HF_DIR_H

#include "formats/hf_config.h"
#include "tensor/weights.h"

/* Map every safetensors file of dir and register its tensors in w. */
int fr_hf_open_weights(const char *dir, fr_weights *w);

#endif
