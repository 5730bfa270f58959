# Dense demo data for the transfer demos (configs/demo/upernet_conmim-demo_*,
# mask-rcnn_conmim-demo_*): mosaics of crops of the 13 bundled photographs
# (data/demo/images), each tile labelled with its photo. Built by
# `bash tools/run_demo.sh transfer` (tools/transfer_demo.py): the labelled
# crops of benchmarks/photo_regions.py (train from two quadrants of each photo,
# val from the other two), then mmconmim/datasets/dense_mosaics.py -- 2x2 and
# 3x3 grids of 32-px tiles, so 64- and 96-px images. The classes are the
# photos' file names, sorted, as the builder numbers them.
mosaic_root = 'work_dirs/conmim_demo_transfer/mosaics'
mosaic_classes = ('astronaut', 'brick', 'cameraman', 'cell', 'chelsea_cat',
                  'coffee', 'coins', 'grass', 'gravel', 'hubble_deep_field',
                  'immunohistochemistry', 'retina', 'rocket')
