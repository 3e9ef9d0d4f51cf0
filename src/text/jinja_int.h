/* Internals of the Jinja interpreter shared by jinja_parse.c (lexer, parser)
 * and jinja.c (evaluator). Not part of any public API. */
#ifndef FR_JINJA_INT_H
#define FR_JINJA_INT_H

#include <jansson.h>
#include <stddef.h>

#include "text/jinja.h"

enum {
    /* expressions */
    J_LIT,    /* lit */
    J_NAME,   /* s */
    J_LIST,   /* kids: items; op = 1 for a tuple */
    J_DICT,   /* kids: key0, value0, key1, value1, ... */
    J_ATTR,   /* a.s */
    J_ITEM,   /* a[b] */
    J_SLICE,  /* a[kids[0]:kids[1]:kids[2]], NULL kids for missing parts */
    J_CALL,   /* a(kids), names[i] = keyword or NULL */
    J_FILTER, /* a | s(kids) */
    J_TEST,   /* a is [not] s(kids); op = 1 when negated */
    J_NOT,    /* not a */
    J_NEG,    /* -a */
    J_POS,    /* +a */
    J_BIN,    /* a op b (arithmetic, comparison, in, ~) */
    J_AND,    /* a and b */
    J_OR,     /* a or b */
    J_COND,   /* a if b else c (c may be NULL) */
    /* statements */
    J_BODY,   /* kids: statements */
    J_TEXT,   /* s (slen bytes) */
    J_OUT,    /* {{ a }} */
    J_IF,     /* if a: b else c (c: J_IF for elif, J_BODY, or NULL) */
    J_FOR,    /* for names in a [if d]: b else c */
    J_SET,    /* names (1: name, >1: unpack) or s.attr = a; block set: a NULL, b body */
    J_MACRO,  /* macro s(names = kids defaults): b */
    J_BREAK,
    J_CONTINUE,
    J_WITH,   /* with names = kids: b */
};

/* binary operators (J_BIN op) */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

typedef struct jnode jnode;
struct jnode {
    int kind, op, line, col;
    jnode *a, *b, *c, *d;
    jnode **kids;  /* nkids */
    char **names;  /* nnames (J_CALL/J_FILTER/J_TEST: parallel to kids) */
    int nkids, nnames;
    char *s, *s2;  /* J_SET: s2 = attribute of namespace s */
    size_t slen;
    json_t *lit;
};

struct fr_jinja {
    char *name;
    jnode *root;   /* J_BODY */
    jnode **all;   /* every node, for freeing */
    size_t nall, capall;
};

#endif
