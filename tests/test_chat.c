/* Chat templates and the Jinja interpreter.
 *  1. every conversation of tests/fixtures/chat/{deepseek_v3,kimi_k2}/chat.jsonl
 *     (rendered by Python Jinja2 with transformers' settings) reproduced exactly;
 *  2. hand-checked Jinja cases (output also confirmed with Python Jinja2 3.1);
 *  3. errors: unknown filter/test/tag, unclosed blocks, runtime errors name
 *     template:line:col and never crash;
 *  4. chat-level behaviour: Kimi tool sorting and default generation prompt,
 *     named template lists, tojson options. */
#include <jansson.h>
#include <unistd.h>

#include "base/err.h"
#include "testutil.h"
#include "text/chat.h"
#include "text/jinja.h"

static const char *const g_vars = "{\"x\": 3, \"y\": 2.5, \"s\": \"H\303\251llo\", \"l\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": 2}, \"n\": null, \"e\": \"\", \"msgs\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"k\": \"\303\251\\n\"}}}]}]}";

static const struct { const char *tmpl, *want; } g_cases[] = {
    /* Undefined inside lists prints as "" (repr "Undefined") and reads back as undefined */
    {"{{ msgs|map(attribute='tool_calls')|map('length')|join(',') }}|{{ [q, 1] }}|{{ [q][0] is defined }}|{% for v in [q] %}{{ v is defined }}{% endfor %}",
     "0,0,1|[Undefined, 1]|False|False"},
    /* macros are closures over the scope they are defined in, and scoped like variables */
    {"{% for i in [1, 2] %}{% macro m() %}<{{ i }}>{% endmacro %}{{ m() }}{% endfor %}{{ m is defined }}"
     "{% macro f(a, b=a) %}{{ b }}{% endmacro %}{{ f(4) }}{{ f is callable }}{% set g = f %}{{ g(5, 6) }}",
     "<1><2>False4True6"},
    /* whitespace control strips Unicode whitespace (Python's \\s); only \\r\\n and \\r are line breaks */
    {"a\343\200\200 {{- x -}} \302\240b\n\t\343\200\200{% if true %}c{% endif %}\342\200\250d\r\ne",
     "a3b\nc\342\200\250d\ne"},
    /* a variable set to Undefined hides an outer one; missing macro arguments are undefined */
    {"{% set x = q %}[{{ x is defined }}{{ x }}]{% macro f(x) %}[{{ x }}]{% endmacro %}{{ f() }}{{ f(2) }}{% with l = q %}{{ l is defined }}{% endwith %}{{ l|length }}",
     "[False][][2]False3"},
    /* printf-style formatting, {% with %} */
    {"{{ '%s-%03d|%5s|%-4s|%.2f' % (s, x, 'ab', 'c', y) }}|{{ '%d%%'|format(50) }}|{% with a = 1, b = x + 1 %}{{ a }}{{ b }}{% endwith %}{{ a }}",
     "H\303\251llo-003|   ab|c   |2.50|50%|14"},
    /* tuples print as Python tuples; loop.cycle */
    {"{{ d|dictsort }}|{{ d.items()|list }}|{{ (1,) }}{{ () }}{{ (1, 'a') }}|{% for i in l %}{{ loop.cycle('o', 'e') }}{% endfor %}",
     "[('a', 2), ('b', 1)]|[('b', 1), ('a', 2)]|(1,)()(1, 'a')|oeo"},
    /* "}}" inside brackets does not end the tag; tojson(ensure_ascii, indent, ...) positional order is transformers' */
    {"{{ {'a': {}}|length }}|{{ {'a': [], 'b': {}}|tojson(indent=2) }}|{{ '\\u00e9'|tojson(true) }}",
     "1|{\n  \"a\": [],\n  \"b\": {}\n}|\"\\u00e9\""},
    {"{{ x }}|{{ y }}|{{ s }}|{{ n }}|{{ l }}|{{ d }}|{{ true }}|{{ q }}",
     "3|2.5|H\303\251llo|None|[3, 1, 2]|{'b': 1, 'a': 2}|True|"},
    {"{{ 1/4 }}|{{ 7//2 }}|{{ -7//2 }}|{{ -7 % 3 }}|{{ 2**10 }}|{{ 1e20 }}|{{ 1e-5 }}|{{ 0.1+0.2 }}|{{ 3*1.0 }}",
     "0.25|3|-4|2|1024|1e+20|1e-05|0.30000000000000004|3.0"},
    {"{{ 'a' + 'b' }}|{{ 'a' ~ x ~ n }}|{{ 'ab' * 3 }}|{{ [1] + [2] }}|{{ x > 2 and y < 2 }}|{{ n or 'alt' }}|{{ not e }}",
     "ab|a3None|ababab|[1, 2]|False|alt|True"},
    {"{{ s[0] }}{{ s[-1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ l[1:] }}|{{ l[-1] }}|{{ l[5] }}|",
     "Ho|\303\251l|oll\303\251H|[1, 2]|2||"},
    {"{% for i in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}:{{ i }} {% endfor %}",
     "10TrueFalse3:3 21FalseFalse3:1 32FalseTrue3:2 "},
    {"{% for i in [] %}x{% else %}none{% endfor %}|{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
     "none|b=1;a=2;|ba"},
    {"{% for i in range(6) if i is even %}{{ i }}{% if loop.last %}.{% endif %}{% endfor %}|{% for i in range(5) %}{% if i == 1 %}{% continue %}{% elif i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
     "024.|02"},
    {"{% set ns = namespace(t=0, s='') %}{% for i in range(4) %}{% set ns.t = ns.t + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.t }} {{ ns.s }}",
     "6 0123"},
    {"{% set v = 1 %}{% for i in [1, 2] %}{% set v = 10 + i %}{{ v }}{% endfor %}{{ v }}",
     "11121"},
    {"{% if x == 1 %}one{% elif x == 3 %}three{% else %}other{% endif %}{{ 'y' if n is none else 'n' }}",
     "threey"},
    {"{{ q is defined }}{{ x is defined }}{{ n is none }}{{ s is string }}{{ d is mapping }}{{ l is iterable }}{{ x is number }}{{ x is integer }}{{ y is float }}{{ x is odd }}{{ x is divisibleby 3 }}{{ n is not none }}",
     "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueFalse"},
    {"{{ ' a b '|trim }}|{{ s|upper }}|{{ s|lower }}|{{ s|length }}|{{ l|length }}|{{ x|string ~ '!' }}|{{ l|join(', ') }}|{{ 'a-b'|replace('-', '+') }}|{{ q|default('dv') }}|{{ e|default('dv', true) }}|{{ l|first }}{{ l|last }}|{{ l|sort }}",
     "a b|H\303\211LLO|h\303\251llo|5|3|3!|3, 1, 2|a+b|dv|dv|32|[1, 2, 3]"},
    {"{{ '  x y  '.strip() }}|{{ 'a,b,c'.split(',') }}|{{ 'a b  c'.split() }}|{{ 'k=v=w'.split('=', 1)[1] }}|{{ s.startswith('H\303\251') }}{{ s.endswith('x') }}|{{ 'xyz'.replace('y', '') }}|{{ '-'.join(['a', 'b']) }}|{{ d.get('a') }}{{ d.get('z', 0) }}{{ d.get('z') }}",
     "x y|['a', 'b', 'c']|['a', 'b', 'c']|v=w|TrueFalse|xz|a-b|20None"},
    {"{{ msgs|tojson }}",
     "[{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"k\": \"\303\251\\n\"}}}]}]"},
    {"{{ d|tojson(indent=2) }}|{{ l|tojson(separators=(',', ':')) }}|{{ '\303\251'|tojson(ensure_ascii=true) }}|{{ d|tojson(sort_keys=true) }}|{{ '\\u0001\"\\\\'|tojson }}",
     "{\n  \"b\": 1,\n  \"a\": 2\n}|[3,1,2]|\"\\u00e9\"|{\"a\": 2, \"b\": 1}|\"\\u0001\\\"\\\\\""},
    {"{% macro tag(name, attr='x') %}<{{ name }} {{ attr }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 'y') }}{{ tag(attr='z', name='c') }}",
     "<a x><b y><c z>"},
    {"{% set blk %}[{{ x }}]{% endset %}{{ blk ~ blk }}{% set a, b = 1, 2 %}{{ a + b }}{% set dd = {'k': [1, {'z': none}]} %}{{ dd.k[1].z }}{{ dd['k'][0] }}",
     "[3][3]3None1"},
    {"{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}{{ msgs|map(attribute='role')|join(',') }}{{ [1, 2, 3, 4]|select('odd')|list }}{{ [1, 2, 3, 4]|reject('odd')|list }}",
     "['U']system,user,assistant[1, 3][2, 4]"},
    {"a\n  {% if true %}\n  b\n  {% endif %}\n  c\n",
     "a\n  b\n  c"},
    {"  {%- if true %} x {% endif -%}  \n  y  {{- x -}}  z {#- c -#} w\n",
     " x y3zw"},
    {"l1\n    {# comment #}\nl2\n  {%+ if true %}p{% endif %}\n{% raw %}{{ raw }}{% endraw %}",
     "l1\nl2\n  p{{ raw }}"},
    {"{%- for m in msgs -%}\n  {%- if m['role'] == 'system' -%}\n    <sys>{{ m['content'] }}\n  {%- else -%}\n    <{{ m.role }}>\n  {%- endif %}\n{% endfor -%}\n",
     "<sys>S<user><assistant>"},
    {"{{ '\\n\\t\\x41\\u00e9' }}|{{ \"it's\" }}|{{ ['it\\'s', 'a\"b', 'c\\\\d', 'x\\ny'] }}|{{ {'k': 1.5, 'n': none} }}",
     "\n\tA\303\251|it's|[\"it's\", 'a\"b', 'c\\\\d', 'x\\ny']|{'k': 1.5, 'n': None}"},
    {"{{ x ~ '' if x is defined }}{{ 'abc'|list }}{{ range(2, 11, 4)|list }}{{ range(3, 0, -1)|list }}{{ l|sum }}{{ l|max }}{{ l|min }}{{ l|reverse|list }}{{ -3|abs }}{{ 2.5|round }}{{ 3.5|round }}{{ '12'|int + 1 }}",
     "3['a', 'b', 'c'][2, 6, 10][3, 2, 1]631[2, 1, 3]32.04.013"},
};

static const struct { const char *tmpl, *err; } g_errors[] = {
    {"{{ x | nosuchfilter }}", "t:1:8: unknown filter 'nosuchfilter'"},
    {"{{ x is nosuchtest }}", "t:1:9: unknown test 'nosuchtest'"},
    {"a\n{% if x %}abc", "unclosed 'if' block (opened at line 2, column 1), expected 'endif'"},
    {"{% for i in l %}\n{% if x %}\n{% endfor %}", "t:3:4: unexpected tag 'endfor'"},
    {"{% for i in l %}x", "unclosed 'for' block"},
    {"{% macro m() %}x", "unclosed 'macro' block"},
    {"{{ x", "t:1:1: unclosed '{{'"},
    {"{% if x", "unclosed block tag"},
    {"{# never closed", "t:1:1: unclosed comment"},
    {"{{ 'abc }}", "t:1:4: unterminated string literal"},
    {"{% include 'a.j' %}", "t:1:4: unsupported tag 'include'"},
    {"{% endif %}", "t:1:4: unexpected tag 'endif'"},
    {"{% elif x %}", "t:1:4: unexpected tag 'elif'"},
    {"{{ x $ 1 }}", "t:1:6: unexpected character '$'"},
    {"{{ (1, }}", "t:1:8: unexpected '}'"},
    {"{% set %}", "expected a variable name"},
    {"{{ f(a=1, 2) }}", "positional argument after keyword argument"},
    {"{{ q.attr }}", "t:1:5: cannot read attribute 'attr' of an undefined value"},
    {"{{ q[0] }}", "cannot index an undefined value"},
    {"{{ x + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'"},
    {"{{ q + 1 }}", "undefined value in '+'"},
    {"{{ x / 0 }}", "division by zero"},
    {"{% for i in x %}{% endfor %}", "'int' object is not iterable"},
    {"{{ raise_exception('Conversation roles must alternate') }}", "t:1:4: raise_exception: Conversation roles must alternate"},
    {"{{ nofn(1) }}", "'nofn' is undefined"},
    {"{{ x(1) }}", "'x' is not callable"},
    {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "macro 'm' takes not more than 1 argument(s)"},
    {"{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro calls nested too deeply"},
    {"{% for i in range(1000000) %}{% endfor %}", "range too big"},
    {"{{ s.nomethod() }}", "unsupported string method 'nomethod'"},
    {"{{ 9223372036854775807 + 1 }}", "integer overflow"},
    {"{{ q|tojson }}", "tojson: value is undefined"},
    {"{% set n.attr = 1 %}", "cannot assign attribute 'attr' of 'n'"},
    {"{{ x is none 3 }}", "test 'none' takes no arguments"},
    {"{% set ns = namespace() %}{% set ns.a = [1, {'b': ns}] %}{{ ns }}", "would make it contain itself"},
    {"{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}", "nested too deeply"},
    {"{{ '%s %s' % x }}", "not enough arguments for format string"},
    {"{{ '%d' % s }}", "%d format: a number is required, not str"},
    {"{{ q|int }}", "int: value is undefined"},
    {"{{ l[,] }}", "unexpected ','"},
};

static json_t *g_v;

static void check_render(const char *tmpl, const char *want) {
    fr_jinja *t = fr_jinja_parse(tmpl, strlen(tmpl), "t");
    char *out = NULL;
    size_t n = 0;
    if (!t) { CHECK(0, "parse %s: %s", tmpl, fr_err_msg()); return; }
    if (fr_jinja_render(t, g_v, &out, &n)) CHECK(0, "render %s: %s", tmpl, fr_err_msg());
    else CHECK(n == strlen(want) && !memcmp(out, want, n), "template %s\n  got  [%s]\n  want [%s]", tmpl, out, want);
    free(out);
    fr_jinja_free(t);
}

static void check_error(const char *tmpl, const char *want) {
    fr_err_clear();
    fr_jinja *t = fr_jinja_parse(tmpl, strlen(tmpl), "t");
    char *out = NULL;
    size_t n = 0;
    int rc = t ? fr_jinja_render(t, g_v, &out, &n) : -1;
    CHECK(rc != 0 && strstr(fr_err_msg(), want), "template %s: want error containing [%s], got rc %d [%s] out [%s]", tmpl, want,
          rc, fr_err_msg(), out ? out : "");
    free(out);
    fr_jinja_free(t);
}

/* render every line of <dir>/chat.jsonl; returns the number that match exactly */
static int check_fixture(const char *model, int *total) {
    char rel[256];
    snprintf(rel, sizeof rel, "chat/%s", model);
    fr_chat *c = fr_chat_load(t_fixture(rel));
    CHECK(c != NULL, "%s: load: %s", model, fr_err_msg());
    snprintf(rel, sizeof rel, "chat/%s/chat.jsonl", model);
    size_t sz;
    char *text = t_read(t_fixture(rel), &sz);
    CHECK(text != NULL, "%s: missing", rel);
    int ok = 0;
    *total = 0;
    for (char *line = text, *nl; c && text && line < text + sz; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + sz - line));
        if (!nl) nl = text + sz;
        if (nl == line) continue;
        json_error_t je;
        json_t *cs = json_loadb(line, (size_t)(nl - line), 0, &je);
        CHECK(cs != NULL, "%s: bad JSON line: %s", rel, je.text);
        if (!cs) continue;
        (*total)++;
        const char *id = json_string_value(json_object_get(cs, "id"));
        json_t *want = json_object_get(cs, "prompt");
        char *out = NULL;
        size_t n = 0;
        int rc = fr_chat_render(c, json_object_get(cs, "messages"), json_object_get(cs, "tools"),
                                json_is_true(json_object_get(cs, "add_generation_prompt")), NULL, &out, &n);
        int same = !rc && json_is_string(want) && n == json_string_length(want) && !memcmp(out, json_string_value(want), n);
        CHECK(same, "%s %s: rc %d %s\n  got  [%s]\n  want [%s]", model, id, rc, rc ? fr_err_msg() : "", out ? out : "",
              json_string_value(want));
        ok += same;
        free(out);
        json_decref(cs);
    }
    free(text);
    fr_chat_free(c);
    return ok;
}

static void check_chat_api(void) {
    /* Kimi: tools sorted recursively; add_generation_prompt defaults to false */
    json_t *cfg = json_pack("{ss ss ss}", "tokenizer_class", "TikTokenTokenizer", "bos_token", "[BOS]", "chat_template",
                            "{{ bos_token }}{{ tools|tojson }}{% if add_generation_prompt %}+gen{% endif %}");
    fr_chat *c = fr_chat_new(NULL, cfg, "kimi-like");
    json_t *msgs = json_array();
    json_t *tools = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"b\": [{\"z\": 1, \"a\": 2}]}}]", 0, NULL);
    char *out = NULL;
    size_t n;
    CHECK(c && !fr_chat_render(c, msgs, tools, 1, NULL, &out, &n), "kimi-like render: %s", fr_err_msg());
    const char *want = "[BOS][{\"function\": {\"b\": [{\"a\": 2, \"z\": 1}], \"name\": \"f\"}, \"type\": \"function\"}]+gen";
    CHECK(out && !strcmp(out, want), "kimi-like: got [%s] want [%s]", out ? out : "", want);
    free(out);
    out = NULL;
    CHECK(c && !fr_chat_render(c, msgs, NULL, -1, NULL, &out, &n) && !strcmp(out, "[BOS]null"), "kimi-like, no tools: [%s]",
          out ? out : "");
    free(out);
    fr_chat_free(c);
    json_decref(cfg);

    /* other tokenizers: no sorting, add_generation_prompt defaults to false; AddedToken objects */
    cfg = json_loads("{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\"}, \"eos_token\": \"</s>\","
                     " \"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ bos_token }}{{ eos_token }}"
                     "{{ add_generation_prompt }}\"}, {\"name\": \"tool_use\", \"template\": \"T{{ tools|tojson }}{{ thinking }}\"}]}",
                     0, NULL);
    c = fr_chat_new(NULL, cfg, "named");
    out = NULL;
    CHECK(c && !fr_chat_render(c, msgs, NULL, -1, NULL, &out, &n) && !strcmp(out, "D<s></s>False"), "named default: [%s] %s",
          out ? out : "", fr_err_msg());
    free(out);
    out = NULL;
    json_t *extra = json_pack("{sb}", "thinking", 1);
    CHECK(c && !fr_chat_render(c, msgs, tools, 1, extra, &out, &n) &&
              !strcmp(out, "T[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"b\": [{\"z\": 1, \"a\": 2}]}}]True"),
          "named tool_use: [%s] %s", out ? out : "", fr_err_msg());
    free(out);
    json_decref(extra);
    fr_chat_free(c);
    json_decref(cfg);

    /* a template that does not parse is reported at load time with its label */
    cfg = json_pack("{ss}", "chat_template", "{% for m in messages %}");
    c = fr_chat_new(NULL, cfg, "cfg.json");
    CHECK(!c && strstr(fr_err_msg(), "cfg.json:1:"), "bad template: %s", fr_err_msg());
    fr_chat_free(c);
    json_decref(cfg);
    json_decref(tools);
    json_decref(msgs);

    /* tojson API: Python json.dumps defaults and options */
    json_t *v = json_loads("{\"b\": [1, 2.0, 1e100, null, true], \"a\": \"\\u00e9\\u0001\\\"\"}", 0, NULL);
    char *s = fr_jinja_tojson(v, 0, -1, NULL, NULL, 0);
    CHECK(s && !strcmp(s, "{\"b\": [1, 2.0, 1e+100, null, true], \"a\": \"\303\251\\u0001\\\"\"}"), "tojson: %s", s ? s : "");
    free(s);
    s = fr_jinja_tojson(v, 1, 1, NULL, NULL, 1);
    CHECK(s && !strcmp(s, "{\n \"a\": \"\\u00e9\\u0001\\\"\",\n \"b\": [\n  1,\n  2.0,\n  1e+100,\n  null,\n  true\n ]\n}"), "tojson indent: %s",
          s ? s : "");
    free(s);
    json_decref(v);
}

/* model directory lookup: chat_template.jinja wins over tokenizer_config.json */
static void check_load_dir(void) {
    char dir[] = "/tmp/frugal_chat_XXXXXX", path[256];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) { fputs("{\"bos_token\": \"<B>\", \"model_max_length\": 1000000000000000019884624838656, \"chat_template\": \"cfg\"}", f); fclose(f); }
    fr_chat *c = fr_chat_load(dir);
    json_t *msgs = json_pack("[{ssss}]", "role", "user", "content", "hi");
    char *out = NULL;
    size_t n;
    CHECK(c && !fr_chat_render(c, msgs, NULL, 0, NULL, &out, &n) && !strcmp(out, "cfg"), "tokenizer_config template: [%s] %s",
          out ? out : "", fr_err_msg());
    free(out);
    out = NULL;
    fr_chat_free(c);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    f = fopen(path, "w");
    if (f) { fputs("{% for m in messages %}{{ bos_token }}{{ m.content }}{% endfor %}\n", f); fclose(f); }
    c = fr_chat_load(dir);
    CHECK(c && !fr_chat_render(c, msgs, NULL, 0, NULL, &out, &n) && !strcmp(out, "<B>hi"), "chat_template.jinja: [%s] %s",
          out ? out : "", fr_err_msg());
    free(out);
    fr_chat_free(c);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
    c = fr_chat_load(dir);
    CHECK(!c && strstr(fr_err_msg(), dir), "missing dir: %s", fr_err_msg());
    json_decref(msgs);
}

int main(void) {
    int tot_ds = 0, tot_k = 0;
    int ok_ds = check_fixture("deepseek_v3", &tot_ds);
    int ok_k = check_fixture("kimi_k2", &tot_k);
    printf("chat.jsonl: deepseek_v3 %d/%d, kimi_k2 %d/%d\n", ok_ds, tot_ds, ok_k, tot_k);
    CHECK(tot_ds == 10 && tot_k == 10, "expected 10 cases per fixture, got %d and %d", tot_ds, tot_k);

    g_v = json_loads(g_vars, 0, NULL);
    CHECK(g_v != NULL, "vars");
    for (size_t i = 0; i < sizeof g_cases / sizeof *g_cases; i++) check_render(g_cases[i].tmpl, g_cases[i].want);
    for (size_t i = 0; i < sizeof g_errors / sizeof *g_errors; i++) check_error(g_errors[i].tmpl, g_errors[i].err);

    /* deep nesting is an error, not a stack overflow */
    char deep[4096];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "{{ ");
    for (int i = 0; i < 1000; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 1000; i++) deep[k++] = ')';
    snprintf(deep + k, sizeof deep - k, " }}");
    check_error(deep, "nested too deeply");

    /* NUL bytes and invalid UTF-8 in text pass through; they do not end the template */
    {
        const char src[] = "a\0b{{ 'c' }}\xff";
        fr_jinja *t = fr_jinja_parse(src, sizeof src - 1, "t");
        char *out = NULL;
        size_t n = 0;
        CHECK(t && !fr_jinja_render(t, NULL, &out, &n) && n == 5 && !memcmp(out, "a\0bc\xff", 5), "NUL/invalid bytes");
        free(out);
        fr_jinja_free(t);
    }
    json_decref(g_v);

    check_chat_api();
    check_load_dir();
    return t_done();
}
