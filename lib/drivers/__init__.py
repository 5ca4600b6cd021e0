# Chip drivers that take their bus and pins from a board: no machine imports here.
