"""The answer engine: words and questions read (words, question), sections indexed (index),
matched and ranked (search, embed) and the reply decided (decision). Pure: no I/O but the
files it ships and the model it is given."""
