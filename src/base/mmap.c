#define _GNU_SOURCE
#include "base/mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

void *fr_anon_zalloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void fr_anon_free(void *p, size_t n) {
    if (p) munmap(p, n);
}

/* The file's bytes in anonymous memory, read-only once read. Transparent huge
 * pages are asked for (MADV_HUGEPAGE; a kernel without them ignores it): a
 * decode step reads its weights from all over the model, and with 4 KiB pages
 * nearly every 4 KiB of them costs a TLB miss and a page walk. */
static void *read_whole(int fd, size_t size, const char *path, size_t lead) {
    void *base = fr_anon_zalloc(lead + size);
    if (!base) {
        fr_err("%s: cannot allocate %zu bytes to read it into: %s", path, size, strerror(errno));
        return NULL;
    }
    void *p = (char *)base + lead;
    for (size_t off = 0; off < size;) {
        const size_t want = size - off < ((size_t)1 << 30) ? size - off : (size_t)1 << 30;
        const ssize_t r = pread(fd, (char *)p + off, want, (off_t)off);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            fr_err("%s: read failed at offset %zu of %zu: %s", path, off, size,
                   r < 0 ? strerror(errno) : "end of file");
            fr_anon_free(base, lead + size);
            return NULL;
        }
        off += (size_t)r;
    }
    if (mprotect(base, lead + size, PROT_READ) != 0) { /* the weights stay read-only, as when mapped */
        fr_err("%s: mprotect failed: %s", path, strerror(errno));
        fr_anon_free(base, lead + size);
        return NULL;
    }
    return p;
}

int fr_mmap_open(fr_mmap *m, const char *path) { return fr_mmap_open_mode(m, path, 0); }

int fr_mmap_open_mode(fr_mmap *m, const char *path, int in_memory) { return fr_mmap_open_at(m, path, in_memory, 0); }

int fr_mmap_open_at(fr_mmap *m, const char *path, int in_memory, uint64_t align_at) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fr_err("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fr_err("%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p;
        if (in_memory) {
            m->lead = (size_t)((64 - align_at % 64) % 64);
            if (!(p = read_whole(fd, m->size, path, m->lead))) {
                close(fd);
                return -1;
            }
        } else if ((p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
            close(fd);
            return fr_err("%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
    }
    close(fd);
    m->path = strdup(path);
    return 0;
}

void fr_mmap_close(fr_mmap *m) {
    if (m->data) munmap((void *)(m->data - m->lead), m->lead + m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int fr_read_file(const char *path, size_t max_size, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fr_err("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return fr_err("out of memory"); }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n > max_size) {
            free(buf);
            fclose(f);
            return fr_err("%s: larger than %zu bytes", path, max_size);
        }
        if (r == 0) break;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); return fr_err("out of memory"); }
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return fr_err("%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}
