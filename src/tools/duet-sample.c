#include <stdio.h>
int main(void) { puts("duet-sample: not yet"); return 1; }
