/* Read-only memory-mapped files. */
#ifndef FR_MMAP_H
#define FR_MMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_mmap {
    const uint8_t *data;
    size_t size;
    char *path;
} fr_mmap;

/* Map the whole file read-only. An empty file maps to data = NULL, size = 0. */
int fr_mmap_open(fr_mmap *m, const char *path);
void fr_mmap_close(fr_mmap *m);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer, refusing files
 * larger than max_size. */
int fr_read_file(const char *path, size_t max_size, char **out, size_t *len);

#endif
