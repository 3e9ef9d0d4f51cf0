/* The frugal command: one file per subcommand. */
#ifndef FR_CLI_H
#define FR_CLI_H

#include <stddef.h>

int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Helpers shared by subcommands. */
/* argv[*i] is a flag that takes a value: return it and advance, or print an
 * error and return NULL. */
const char *cli_value(int argc, char **argv, int *i);
/* strict integer parse; on failure prints "<flag>: ..." and returns -1 */
int cli_int(const char *flag, const char *s, long lo, long hi, long *out);
/* write n floats as little-endian float32 */
/* -ctk / --cache-type-k value: f32, f16, bf16, q8_0; -1 with a message when bad */
int cli_cache_type(const char *flag, const char *v);
int cli_write_f32(const char *path, const float *x, size_t n);
int cli_write_bytes(const char *path, const void *x, size_t n);

#endif
