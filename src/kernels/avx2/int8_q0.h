/* Integer kernels for Q8_0, Q4_0, Q5_0 weights (AVX2): not written yet; the
 * generic kernel runs. */
#define INT8_Q0_ENTRIES
