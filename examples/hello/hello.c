/* The seed's example program: one line out, exit 0. */
#include <stdio.h>

int main(void)
{
	printf("hello world\n");
	return 0;
}
