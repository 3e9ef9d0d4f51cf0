/* Integer kernels for Q4_K, Q5_K, Q6_K weights (AVX2): not written yet; the
 * generic kernel runs. */
#define INT8_K_ENTRIES
