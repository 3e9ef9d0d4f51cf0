/* A Hugging Face model directory: config.json and safetensors weights, one file
 * (model.safetensors) or shards listed in model.safetensors.index.json. */
#ifndef FR_HF_DIR_H
#define FR_HF_DIR_H

#include "formats/hf_config.h"
#include "tensor/weights.h"

/* Map every safetensors file of dir and register its tensors in w; in_memory = 1:
 * read them into memory instead (fr_mmap_open_mode). */
int fr_hf_open_weights(const char *dir, fr_weights *w, int in_memory);

#endif
