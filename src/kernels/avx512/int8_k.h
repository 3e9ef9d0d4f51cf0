/* Integer kernels for Q4_K, Q5_K, Q6_K weights (activations in blocks of 256):
 * not written yet; the generic kernel runs. */
#define INT8_K_ENTRIES
