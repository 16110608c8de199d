#include <stdio.h>
#include <libmeta/io.h>
int f(FILE *out) { fprintf(out, "ok"); return 0; }   /* printf("a comment"); */
const char *s = "exit(1) in a string, stderr too";
void g(void) { abort(); }
