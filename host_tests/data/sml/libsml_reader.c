/* A small SML reader against Debian's libsml (libsml-dev), built by host_tests/test_sml_readers.py.
 *
 *   libsml_reader PATH FILES     read FILES SML files from PATH (a pty or a file), print
 *                                each GetList.Res entry as one line, then exit
 *
 * Output lines:   file N                       at the start of each file
 *                 entry OBIS int VALUE UNIT SCALER STATUS    an integer entry (UNIT, SCALER,
 *                                              STATUS "-" when absent)
 *                 entry OBIS octets HEX        an octet string entry
 * Values are printed as exact 64-bit integers (libsml's own types), not as doubles. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <sml/sml_file.h>
#include <sml/sml_transport.h>
#include <sml/sml_value.h>

static void print_obis(octet_string *name) {
    if (!name || name->len != 6) {
        printf("?");
        return;
    }
    printf("%d-%d:%d.%d.%d*%d", name->str[0], name->str[1], name->str[2], name->str[3], name->str[4], name->str[5]);
}

static int integer_of(sml_value *v, int64_t *out) {
    switch (v->type) {
    case SML_TYPE_INTEGER | SML_TYPE_NUMBER_8: *out = *v->data.int8; return 1;
    case SML_TYPE_INTEGER | SML_TYPE_NUMBER_16: *out = *v->data.int16; return 1;
    case SML_TYPE_INTEGER | SML_TYPE_NUMBER_32: *out = *v->data.int32; return 1;
    case SML_TYPE_INTEGER | SML_TYPE_NUMBER_64: *out = *v->data.int64; return 1;
    case SML_TYPE_UNSIGNED | SML_TYPE_NUMBER_8: *out = *v->data.uint8; return 1;
    case SML_TYPE_UNSIGNED | SML_TYPE_NUMBER_16: *out = *v->data.uint16; return 1;
    case SML_TYPE_UNSIGNED | SML_TYPE_NUMBER_32: *out = *v->data.uint32; return 1;
    case SML_TYPE_UNSIGNED | SML_TYPE_NUMBER_64: *out = (int64_t)*v->data.uint64; return 1;
    }
    return 0;
}

static void print_file(sml_file *file) {
    for (int i = 0; i < file->messages_len; i++) {
        sml_message *message = file->messages[i];
        if (!message || !message->message_body || *message->message_body->tag != SML_MESSAGE_GET_LIST_RESPONSE)
            continue;
        sml_get_list_response *body = (sml_get_list_response *)message->message_body->data;
        for (sml_list *entry = body->val_list; entry; entry = entry->next) {
            int64_t n;
            printf("entry ");
            print_obis(entry->obj_name);
            if (!entry->value) {
                printf(" none\n");
            } else if (entry->value->type == SML_TYPE_OCTET_STRING) {
                printf(" octets ");
                for (int k = 0; k < entry->value->data.bytes->len; k++)
                    printf("%02x", (unsigned char)entry->value->data.bytes->str[k]);
                printf("\n");
            } else if (integer_of(entry->value, &n)) {
                printf(" int %" PRId64, n);
                if (entry->unit) printf(" %u", (unsigned)*entry->unit); else printf(" -");
                if (entry->scaler) printf(" %d", (int)*entry->scaler); else printf(" -");
                if (entry->status) {
                    sml_status *st = entry->status;
                    switch (st->type & 0x0F) {
                    case 1: printf(" %u", (unsigned)*st->data.status8); break;
                    case 2: printf(" %u", (unsigned)*st->data.status16); break;
                    case 4: printf(" %" PRIu32, *st->data.status32); break;
                    case 8: printf(" %" PRIu64, *st->data.status64); break;
                    default: printf(" ?");
                    }
                } else {
                    printf(" -");
                }
                printf("\n");
            } else {
                printf(" other\n");
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH FILES\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_NOCTTY);
    if (fd < 0) {
        perror(argv[1]);
        return 3;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) { /* a pty: raw bytes */
        cfmakeraw(&tio);
        tcsetattr(fd, TCSANOW, &tio);
    }
    int wanted = atoi(argv[2]);
    unsigned char buffer[4096];
    for (int count = 0; count < wanted; count++) {
        size_t len = sml_transport_read(fd, buffer, sizeof buffer);
        if (len < 16) {
            fprintf(stderr, "transport read ended after %d files\n", count);
            return 4;
        }
        sml_file *file = sml_file_parse(buffer + 8, len - 16);
        printf("file %d\n", count);
        print_file(file);
        fflush(stdout);
        sml_file_free(file);
    }
    return 0;
}
